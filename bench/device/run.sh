#!/bin/bash
# On a device machine (its CPU, not its GPU): builds speedster with that
# image's compiler, runs the kernel unit tests there, exports the PyTorch
# models, makes native fp32 learners and times them against ONNX Runtime
# (the image's Python package: its library through the C API where it
# exports one, else from Python) through bench/run_bench.sh (BENCH_ORT), at
# 1 and 2 threads. With .dev from prepare.sh carried, oneDNN is built in and
# the whole ctest suite runs (FULL=1); without it, native only.
#   run (device tool): BUDGET=420 bash bench/device/run.sh   [carry: [".dev"]]
# env: BUDGET (seconds for the whole script), MODELS (names), ROUNDS (3),
#      THREADS ("1 2"), OPS (1: one-operator models too), BLOCKINGS (with
#      OPS: GEMM blockings to try), PROFILE (names:
#      per-node profiles, below).
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
# the scripts name Debian's python; the image's has onnx and torch
grep -rl '/usr/bin/python3' tests examples | xargs sed -i "s#/usr/bin/python3#$PY#g"
B=$PWD/build
cfg=(-DCMAKE_BUILD_TYPE=Release -DSPD_WITH_DNNL=OFF)
if [ -f "$DEV/lib/libdnnl.so.2.xz" ]; then
    L=/tmp/dnnl
    mkdir -p $L && xz -dc "$DEV/lib/libdnnl.so.2.xz" >$L/libdnnl.so.2 && cp "$DEV/lib/libOpenCL.so.1" $L/ &&
        ln -sf libdnnl.so.2 $L/libdnnl.so
    export LD_LIBRARY_PATH=$L
    mkdir -p "$B/testdata" && tar xzf "$DEV/conf.tgz" -C "$B/testdata"
    cfg=(-DCMAKE_BUILD_TYPE=Release -DDNNL_LIBRARY=$L/libdnnl.so -DDNNL_INCLUDE_DIR="$DEV/include")
fi
cmake -S . -B "$B" "${cfg[@]}" >"$OUT/cmake.txt" 2>&1 &&
    cmake --build "$B" -j"$(nproc)" >"$OUT/build.txt" 2>&1 || { echo "build failed"; tail -20 "$OUT/build.txt"; exit 1; }
echo "=== built $(el)s; ctest"
# the kernel tests (the others read conformance cases that FULL generates)
sel=(-R 'test_(gemm|gemv|kernels|pool_fast|vsigmoid|conv_fast|wino|rnn|fastew|threadpool|concurrency)$')
[ "${FULL:-0}" = 1 ] && sel=()
timeout 200 ctest --test-dir "$B" -j"$(nproc)" --timeout 190 --output-on-failure "${sel[@]}" >"$OUT/ctest.txt" 2>&1
grep -E 'tests passed|Failed|\*\*\*' "$OUT/ctest.txt" | tail -15
M=/tmp/models L=/tmp/learners
models=${MODELS:-kws_dscnn vad_gru lstm squeezenet1_1 mobilenet_v2 efficientnet_b0 resnet50 bert_base}
echo "=== export $(el)s"
python3 tests/models/export_models.py $M $models >"$OUT/export.txt" 2>&1 || tail -5 "$OUT/export.txt"
echo "=== learners $(el)s"
for m in $models; do
    [ -f $M/$m/model.onnx ] || continue
    "$B/speedster" optimize $M/$m/model.onnx -o $L/$m --input-data $M/$m --ignore-compilers onednn >>"$OUT/optimize.txt" 2>&1 ||
        echo "optimize $m failed"
done
echo "=== bench $(el)s, left $(left)s"
# ORT through its C API where the Python package's library exports it
# (bench_ort_c, as on the development machine), else through Python (a few
# microseconds a call more: the tiny models' ratios read low)
ort=(python3 "$PWD/bench/device/ort_time.py")
for lib in $(python3 -c 'import onnxruntime,os;d=os.path.join(os.path.dirname(onnxruntime.__file__),"capi");print(" ".join(os.path.join(d,f) for f in sorted(os.listdir(d)) if f.startswith(("libonnxruntime.so","onnxruntime_pybind11_state"))))' 2>/dev/null); do
    first=$(echo $models | cut -d' ' -f1)
    if "$B/bench_ort_c" "$M/$first" --lib "$lib" --runs 2 --check 2>/dev/null | grep -q '"allclose": true'; then
        ort=("$B/bench_ort_c" --lib "$lib")
        break
    fi
done
echo "ORT timed by: ${ort[*]}"
for T in ${THREADS:-1 2}; do
    [ "$(left)" -gt 40 ] || break
    BENCH_ORT="${ort[*]}" BENCH_ROUNDS=${ROUNDS:-3} BENCH_LEARNERS=$L \
        timeout "$(left)" bash bench/run_bench.sh "$B/speedster" "$M" $T $models
done
# OPS=1: one-operator models (bench/op_models.py: resnet50's 1x1 and strided
# 3x3 convolutions, squeezenet's stem and pool, BERT's FC1) at 1 thread,
# where the per-node gaps are, without a model around them
# (BLOCKINGS="mc,kc,nc ...": again under each SPEEDSTER_GEMM_BLOCKING, the
# GEMM's cache blocking, which the Xeon's caches may want otherwise)
if [ "${OPS:-0}" = 1 ] && [ "$(left)" -gt 60 ]; then
    python3 bench/op_models.py /tmp/opm >/dev/null 2>&1 &&
        for blk in default ${BLOCKINGS:-}; do
            [ "$(left)" -gt 60 ] || break
            echo "=== one-operator models, blocking $blk"
            [ "$blk" = default ] && blk=
            SPEEDSTER_GEMM_BLOCKING=$blk BENCH_ORT="${ort[*]}" BENCH_ROUNDS=${ROUNDS:-3} \
                timeout "$(left)" bash bench/run_bench.sh "$B/speedster" /tmp/opm 1
        done
fi
# PROFILE="model...": per-node times at PROFILE_THREADS (1), ours and ORT's
# (its own profiler, bench_ort_c only), for setting side by side; into
# $OUT/prof.txt
for m in ${PROFILE:-}; do
    for T in ${PROFILE_THREADS:-1}; do
        [ "$(left)" -gt 30 ] && [ -f "$L/$m/metadata.json" ] || break 2
        { echo "=== profile $m, $T threads: speedster"
          SPEEDSTER_PROFILE=nodes timeout 30 "$B/speedster" bench "$L/$m" --threads $T --warmup 5 --runs 30 2>&1 | head -n 61
          if [ "${ort[0]}" = "$B/bench_ort_c" ]; then
              echo "=== profile $m, $T threads: ORT"
              rm -f /tmp/ortp_*
              timeout 30 "${ort[@]}" "$M/$m" --threads $T --warmup 5 --runs 30 --profile /tmp/ortp_$m >/dev/null 2>&1 &&
                  python3 bench/ort_profile.py /tmp/ortp_"$m"*.json 60
          fi; } >>"$OUT/prof.txt" 2>&1
    done
done
echo "=== end $(el)s"
sleep 1
