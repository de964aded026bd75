#!/bin/sh
# Generates the ONNX node conformance suite once per build folder.
#   usage: generate.sh SHARED_CONFORMANCE_DIR OUT_DIR
set -eu
src=$1 out=$2
if [ -d "$out/node" ] && [ "$(ls "$out/node" | wc -l)" -ge 900 ]; then
  echo "conformance suite already generated in $out/node"
  exit 0
fi
rm -rf "$out"
mkdir -p "$out"
sh "$src/generate.sh" "$out"
