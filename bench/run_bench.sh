#!/bin/bash
# Side-by-side latency: ONNX Runtime 1.30 and speedster on the exported models
# (tests/models/export_models.py), on the same input tensors. ORT is timed
# through its C API (bench_ort_c, built beside SPEEDSTER_BIN, on the
# libonnxruntime that ships in the onnxruntime-node package); without that
# program, through node (bench_ort.js), whose binding adds ~6 us to each call.
# Not a test: it prints figures.
#
# usage: run_bench.sh SPEEDSTER_BIN MODELS_DIR [threads] [model...]
# env:   BENCH_ROUNDS (3), BENCH_WARMUP (10), BENCH_WARMUP_MS (300), BENCH_RUNS (10)
#        (ten warm-up calls: at two threads both runtimes take several calls
#        to reach their steady speed in a fresh process on this kind of
#        virtual machine, speedster's pool up to ~10, and a serving process
#        is measured at its steady speed); a model that ORT runs in under
#        1 ms gets 30 times both
#        BENCH_ORT="CMD ARGS": time ORT with CMD instead (the arguments and
#        output of bench_ort.js): "node bench/bench_ort.js" for the node
#        binding, "python3 bench/device/ort_time.py" for ORT's Python package
#        BENCH_LEARNERS=DIR: time DIR/<model> (a learner folder from
#        `speedster optimize`) instead of the model itself, when it exists
#
# Each round times ORT (in a fresh process: load, warmup, runs) and
# `speedster bench` with the same warmup and runs, one right after the other,
# the two taking turns going first. The times printed are the medians of the
# per-round medians; the ratio is the median of the per-round ratios (the
# machines are shared: a slow spell spans seconds, and hits a round's two
# runs alike more often than two rounds).
set -u
if [ $# -lt 2 ]; then
    echo "usage: run_bench.sh SPEEDSTER_BIN MODELS_DIR [threads] [model...]" >&2
    exit 2
fi
bin=$1
models=$2
threads=${3:-$(nproc)}
shift $(($# < 3 ? $# : 3))
rounds=${BENCH_ROUNDS:-3}
warmup=${BENCH_WARMUP:-10}
# and at least this long: on a virtual machine a fresh process's second
# thread ran at a fraction of its speed for its first ~100 ms (the Zen 5
# host: squeezenet1_1 at 2 threads 3.9 ms per call, then 2.2), whatever the
# call count; both timers warm up alike
warmup_ms=${BENCH_WARMUP_MS:-300}
runs=${BENCH_RUNS:-10}
here=$(cd "$(dirname "$0")" && pwd)

# BENCH_ORT: the command that times ORT (the arguments of bench_ort.js,
# one JSON line with median_ms), e.g. "python3 bench/device/ort_time.py"
# where ORT is there only for Python
if [ -z "${BENCH_ORT:-}" ] && [ ! -f "$here/node_modules/onnxruntime-node/package.json" ]; then
    echo "installing onnxruntime-node 1.30.0 into $here/node_modules" >&2
    npm install --ignore-scripts --no-save --no-audit --no-fund onnxruntime-node@1.30.0 \
        --prefix "$here" >&2 || { echo "npm install failed" >&2; exit 1; }
fi
if [ -n "${BENCH_ORT:-}" ]; then
    read -ra ort_cmd <<<"$BENCH_ORT"
else
    ort_lib=$(ls "$here"/node_modules/onnxruntime-node/bin/napi-v*/linux/x64/libonnxruntime.so.1 2>/dev/null | head -n 1)
    ort_c="$(dirname "$bin")/bench_ort_c"
    if [ -x "$ort_c" ] && [ -n "$ort_lib" ]; then
        ort_cmd=("$ort_c" --lib "$ort_lib")
    else
        echo "no $ort_c: timing ORT through node, ~6 us per call slower than its C API" >&2
        ort_cmd=(node "$here/bench_ort.js")
    fi
fi

json_field() {  # json_field FIELD < output whose last line is flat JSON: a numeric field, or ""
    tail -n 1 | sed -n "s/.*\"$1\": *\([-0-9.eE+]*\).*/\1/p"
}

median() {  # median of the numbers given as arguments
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
        if (NR == 0) print "";
        else if (NR % 2) print a[(NR + 1) / 2];
        else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

if [ $# -gt 0 ]; then
    names=("$@")
else
    names=()
    for d in "$models"/*/; do
        [ -f "$d/model.onnx" ] && names+=("$(basename "$d")")
    done
fi

ratios=()
big=()
echo "ORT: ${ort_cmd[0]##*/}; threads $threads, $rounds rounds of (warmup $warmup and ${warmup_ms} ms, runs $runs), interleaved ORT / speedster"
printf '%-16s %12s %16s %14s\n' model "ORT ms" "speedster ms" "speedster/ORT"
for n in "${names[@]}"; do
    case_dir="$models/$n"
    ort_meds=()
    spd_meds=()
    err=""
    pair_ratios=()
    one_thread=0 # rounds whose learner ended on one thread (its thread tuner)
    # a model that runs in under a millisecond gets 30x the calls: ten of
    # them span a few hundred microseconds, shorter than the machine's
    # hiccups
    w=$warmup
    n_runs=$runs
    probe=$("${ort_cmd[@]}" "$case_dir" --threads "$threads" --warmup 2 --runs 3 2>&1 | tail -n 1)
    pm=$(json_field median_ms <<<"$probe")
    if [ -n "$pm" ] && awk -v m="$pm" 'BEGIN { exit !(m < 1.0) }'; then
        w=$((warmup * 30))
        n_runs=$((runs * 30))
    fi
    target="$case_dir/model.onnx"
    [ -n "${BENCH_LEARNERS:-}" ] && [ -f "$BENCH_LEARNERS/$n/metadata.json" ] && target="$BENCH_LEARNERS/$n"
    for ((r = 0; r < rounds; r++)); do
        # the two runs of a round are adjacent in time, and take turns going first
        om_r=""
        sm_r=""
        for side in $(if ((r % 2)); then echo spd ort; else echo ort spd; fi); do
            if [ "$side" = ort ]; then
                o=$("${ort_cmd[@]}" "$case_dir" --threads "$threads" --warmup "$w" --warmup-ms "$warmup_ms" --runs "$n_runs" 2>&1 | tail -n 1)
                om_r=$(json_field median_ms <<<"$o")
                if [ -n "$om_r" ]; then ort_meds+=("$om_r"); else err="ORT: $o"; fi
            else
                s=$("$bin" bench "$target" -i "$case_dir/test_data_set_0" --threads "$threads" \
                    --warmup "$w" --warmup-ms "$warmup_ms" --runs "$n_runs" 2>&1 | tail -n 1)
                sm_r=$(json_field median_ms <<<"$s")
                grep -q '"one_thread":true' <<<"$s" && one_thread=$((one_thread + 1))
                if [ -n "$sm_r" ]; then spd_meds+=("$sm_r"); else err="speedster: $s"; fi
            fi
        done
        [ -n "$om_r" ] && [ -n "$sm_r" ] && pair_ratios+=("$(awk -v a="$sm_r" -v b="$om_r" 'BEGIN { if (b > 0) print a / b }')")
    done
    om=$(median "${ort_meds[@]}")
    sm=$(median "${spd_meds[@]}")
    # the ratio is the median of the rounds' own ratios: a slow spell of the
    # machine that covers a round slows both of its runs alike
    pr=$(median "${pair_ratios[@]}")
    ratio=$(awk -v r="$pr" 'BEGIN { if (r == "") print "-"; else printf "%.2f", r }')
    # The goals of the native-speed issue: at most 1.25 per model, and at
    # most 1/1.5 where ORT takes under 0.2 ms (tiny models).
    goal=""
    if [ "$ratio" != "-" ]; then
        ratios+=("$ratio")
        awk -v o="$om" 'BEGIN { exit !(o >= 0.2) }' && big+=("$ratio")
        goal=$(awk -v r="$ratio" -v o="$om" 'BEGIN { lim = (o < 0.2) ? 0.667 : 1.25;
            printf "%s (goal <= %.2f)", (r <= lim) ? "ok" : "MISS", lim }')
    fi
    [ "$one_thread" -gt 0 ] && goal="$goal [speedster on one thread in $one_thread of $rounds rounds]"
    printf '%-16s %12s %16s %14s  %s\n' "$n" "${om:--}" "${sm:--}" "$ratio" "$goal"
    [ -n "$err" ] && echo "    ($err)"
done
# The issue's geometric-mean goal is over the large models (ORT >= 0.2 ms);
# the tiny ones have their own per-model goal and would flatter the mean.
geomean() {  # geomean LABEL RATIO...
    local label=$1
    shift
    [ $# -gt 0 ] && printf '%s\n' "$@" | awk -v l="$label" '{ s += log($1); n++ } END {
        printf "geometric mean speedster/ORT over %d %s: %.2f\n", n, l, exp(s / n) }'
}
geomean "models (ORT >= 0.2 ms)" "${big[@]}"
geomean "models (all)" "${ratios[@]}"
exit 0
