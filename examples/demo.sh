#!/bin/sh
# The main job end to end on the bundled example model.
#   usage: demo.sh SPEEDSTER_BIN
set -eu
bin=${1:-build/speedster}
here=$(dirname "$0")
model=$here/tiny_cnn/model.onnx
out=${TMPDIR:-/tmp}/speedster-demo
rm -rf "$out"
echo "== speedster info"
"$bin" info "$model"
echo "== speedster run"
"$bin" run "$model" -i "$here/tiny_cnn/test_data_set_0" -o "$out/outputs"
ls "$out/outputs"
echo "== speedster check (against PyTorch's own output)"
"$bin" check "$here/tiny_cnn"
echo "== speedster bench"
"$bin" bench "$model" -i "$here/tiny_cnn/test_data_set_0"
