#!/usr/bin/env python3
# Device-only twin of bench/bench_ort.js: ONNX Runtime (Python) on a case dir.
import glob, json, os, sys, time
import numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper
a = sys.argv[1:]; case = a[0]
opt = {"threads": 1, "warmup": 2, "warmup-ms": 0, "runs": 10}
i = 1
while i < len(a):
    opt[a[i][2:]] = int(a[i + 1]); i += 2
so = ort.SessionOptions()
so.intra_op_num_threads = opt["threads"]; so.inter_op_num_threads = 1
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
t0 = time.perf_counter()
s = ort.InferenceSession(os.path.join(case, "model.onnx"), so, providers=["CPUExecutionProvider"])
load = (time.perf_counter() - t0) * 1e3
names = [x.name for x in s.get_inputs()]
feeds = {}
for k, n in enumerate(names):
    t = onnx.TensorProto()
    t.ParseFromString(open(os.path.join(case, "test_data_set_0", "input_%d.pb" % k), "rb").read())
    feeds[n] = numpy_helper.to_array(t)
warm_until = time.perf_counter() + opt["warmup-ms"] / 1e3
w = 0
while w < opt["warmup"] or time.perf_counter() < warm_until:
    s.run(None, feeds); w += 1
ts = []
for _ in range(opt["runs"]):
    t = time.perf_counter(); s.run(None, feeds); ts.append((time.perf_counter() - t) * 1e3)
ts.sort()
print(json.dumps({"model": case, "threads": opt["threads"], "median_ms": round(float(np.median(ts)), 4),
                  "min_ms": round(ts[0], 4), "load_ms": round(load, 1)}))
