#!/usr/bin/env python3
"""Per-node times from an ONNX Runtime profile (bench_ort.js --profile PREFIX).

usage: ort_profile.py PROFILE.json [TOP]

Prints each node's median kernel time over its calls (the warm-up calls
are in the profile too; the median leaves them out), largest first, with
its operator and output name: the figures to set beside
`SPEEDSTER_PROFILE=nodes speedster bench ...`. ORT's profiler adds a few
microseconds per node, so its times read high against an unprofiled run."""
import collections
import json
import statistics
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    events = json.load(open(sys.argv[1]))
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    durs = collections.defaultdict(list)
    op = {}
    for e in events:
        name = e.get("name", "")
        if e.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        node = name[: -len("_kernel_time")]
        durs[node].append(e["dur"])
        op[node] = e.get("args", {}).get("op_name", "")
    if not durs:
        sys.exit("no node events in %s" % sys.argv[1])
    med = {node: statistics.median(d) for node, d in durs.items()}
    overall = sum(med.values())
    print("%.1f us of kernels per call (sum of the nodes' medians), %d calls" % (overall, max(map(len, durs.values()))))
    for node, t in sorted(med.items(), key=lambda kv: -kv[1])[:top]:
        print("%9.1f us %5.1f%%  %-18s %s" % (t, 100 * t / overall, op[node], node))


if __name__ == "__main__":
    main()
