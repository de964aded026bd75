#!/bin/bash
# Model-level tests: export the PyTorch models (once: models already exported by
# the same export_models.py are kept) and compare `speedster run` with PyTorch.
#
# usage: run_models.sh SPEEDSTER_BIN WORK_DIR [names...]
# Prints one line per model and ends with "N passed, N failed"; exit 1 on a failure.
set -u
if [ $# -lt 2 ]; then
    echo "usage: run_models.sh SPEEDSTER_BIN WORK_DIR [names...]" >&2
    exit 2
fi
bin=$1
work=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3

# Every model, unless named: one whose export failed must show as a FAIL line.
[ $# -gt 0 ] || set -- $("$py" "$here/export_models.py" --list 2>/dev/null)
mkdir -p "$work"
t0=$(date +%s)
# Export chatter (torch's warnings) goes to a log; a failed export shows up as
# a FAIL line of compare_models.py ("not exported"), with the log's tail here.
if ! "$py" "$here/export_models.py" "$work" --skip-existing "$@" >"$work/export.log" 2>&1; then
    echo "export_models.py failed; last lines of $work/export.log:" >&2
    tail -n 5 "$work/export.log" >&2
fi
grep -E 'exported (in|already)|export FAILED' "$work/export.log" | sed 's/^/export: /'
echo "export: $(($(date +%s) - t0)) s"
"$py" "$here/compare_models.py" "$bin" "$work" "$@"
rc=$?
# The same expected outputs through the optimize path: the graph passes
# (fusions, folded shapes) and the fast kernels they select, three calls each
# so that the memory plan's arena is used too.
dirs=()
for n in "$@"; do [ -f "$work/$n/model.onnx" ] && dirs+=("$work/$n"); done
if [ ${#dirs[@]} -gt 0 ]; then
    echo "optimized graphs:"
    "$bin" check --optimized --repeat 3 --rtol 1e-4 --atol 1e-5 "${dirs[@]}" || rc=1
fi
exit $rc
