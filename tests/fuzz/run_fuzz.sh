#!/bin/sh
# Runs the ONNX reader's libFuzzer target for a fixed time, seeded with the
# bundled example and a few conformance models when they are there.
#   usage: run_fuzz.sh FUZZ_BIN SECONDS
set -eu
bin=$1 secs=${2:-60}
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
here=$(dirname "$0")
cp "$here/../../examples/tiny_cnn/model.onnx" "$corpus/tiny_cnn.onnx"
for d in build/testdata/conformance/node/test_conv_with_strides_padding build/testdata/conformance/node/test_loop11 \
         build/testdata/conformance/node/test_if build/testdata/conformance/node/test_lstm_defaults; do
  [ -f "$d/model.onnx" ] && cp "$d/model.onnx" "$corpus/$(basename "$d").onnx"
done
"$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 "$corpus"
