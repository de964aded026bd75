#!/bin/sh
# The main job end to end on the bundled example model.
#   usage: demo.sh SPEEDSTER_BIN
set -eu
bin=$(cd "$(dirname "${1:-build/speedster}")" && pwd)/$(basename "${1:-build/speedster}")
here=$(cd "$(dirname "$0")" && pwd)
model=$here/tiny_cnn/model.onnx
out=${TMPDIR:-/tmp}/speedster-demo
rm -rf "$out"
mkdir -p "$out"
echo "== speedster info"
"$bin" info "$model"
echo "== speedster run"
"$bin" run "$model" -i "$here/tiny_cnn/test_data_set_0" -o "$out/outputs"
ls "$out/outputs"
echo "== speedster check (against PyTorch's own output)"
"$bin" check "$here/tiny_cnn"
echo "== speedster optimize (random samples fitted to the model's inputs)"
(cd "$out" && "$bin" optimize "$model" -o "$out/learner" --store-latencies)
echo "== speedster run on the learner"
"$bin" run "$out/learner" -i "$here/tiny_cnn/test_data_set_0" -o "$out/learner_outputs"
echo "== speedster bench: the original model, then the learner"
# 300 ms of warm-up each: a fresh process's second thread can run slow for
# its first ~100 ms, and ten calls of a 30 us model would all fall in it
"$bin" bench "$model" -i "$here/tiny_cnn/test_data_set_0" --warmup-ms 300 --runs 200
"$bin" bench "$out/learner" -i "$here/tiny_cnn/test_data_set_0" --warmup-ms 300 --runs 200
