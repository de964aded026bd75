#!/bin/bash
# On a device machine (its CPU, not its GPU): builds speedster with that
# image's compiler, runs the test suite there, exports the PyTorch models
# and times native fp32 against ONNX Runtime (the image's Python package)
# through bench/run_bench.sh (BENCH_ORT). Needs .dev from prepare.sh, carried.
#   run (device tool): BUDGET=420 bash bench/device/run.sh   carry: [".dev"]
# The log and the test output land in $OUT.
set -u
export DEV=$PWD/.dev
T0=$(date +%s)
el() { echo $(($(date +%s) - T0)); }
left() { echo $((${BUDGET:-470} - $(el))); }
exec > >(tee -a "$OUT/log.txt") 2>&1
echo "=== cpu"
lscpu | grep -E 'Model name|^CPU\(s\)|Core|Socket|L1d|L2|L3'
grep -o -w 'avx512[a-z_0-9]*\|amx[a-z_0-9]*\|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' '
echo
PY=$(command -v python3)
python3 -c 'import onnxruntime,onnx,torch;print("ort",onnxruntime.__version__,"onnx",onnx.__version__,"torch",torch.__version__)'
# the scripts name Debian's python; the image's has onnx and torch. Its
# torch exports with dynamo by default: the models test wants TorchScript's.
grep -rl '/usr/bin/python3' tests examples | xargs sed -i "s#/usr/bin/python3#$PY#g"
sed -i 's/do_constant_folding=True,/do_constant_folding=True, dynamo=False,/' tests/models/export_models.py
L=/tmp/dnnl
mkdir -p $L && xz -dc "$DEV/lib/libdnnl.so.2.xz" >$L/libdnnl.so.2 && cp "$DEV/lib/libOpenCL.so.1" $L/ && ln -sf libdnnl.so.2 $L/libdnnl.so
export LD_LIBRARY_PATH=$L
B=$PWD/build
mkdir -p "$B/testdata" && tar xzf "$DEV/conf.tgz" -C "$B/testdata"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DDNNL_LIBRARY=$L/libdnnl.so -DDNNL_INCLUDE_DIR="$DEV/include" >"$OUT/cmake.txt" 2>&1 &&
    cmake --build "$B" -j"$(nproc)" >"$OUT/build.txt" 2>&1 || { echo "build failed"; tail -20 "$OUT/build.txt"; exit 1; }
echo "=== built $(el)s; ctest"
timeout 230 ctest --test-dir "$B" -j12 --timeout 220 --output-on-failure >"$OUT/ctest.txt" 2>&1
grep -E 'tests passed|Failed|\*\*\*' "$OUT/ctest.txt" | tail -15
M=$B/testdata/models
echo "=== bench $(el)s, left $(left)s"
for T in 1 2; do
    [ "$(left)" -gt 40 ] || break
    BENCH_ORT="python3 $PWD/bench/device/ort_time.py" BENCH_ROUNDS=3 BENCH_WARMUP=5 \
        timeout "$(left)" bash bench/run_bench.sh "$B/speedster" "$M" $T \
        kws_dscnn vad_gru lstm squeezenet1_1 mobilenet_v2 efficientnet_b0 resnet50 bert_base
done
echo "=== end $(el)s"
sleep 1
