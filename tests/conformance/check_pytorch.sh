#!/bin/sh
# The 117 PyTorch-exported cases of shared/conformance/pytorch: at least 95%
# must pass. Their model.onnx files are absent from shared/ (only the
# test_data_set folders were copied), so the test is skipped (exit 77) with
# that reason until they are there.
#   usage: check_pytorch.sh SPEEDSTER_BIN PYTORCH_DIR EXCLUSIONS
set -eu
bin=$1 dir=$2 excl=$3
n_models=$(find "$dir" -name model.onnx | wc -l)
if [ "$n_models" -eq 0 ]; then
  echo "SKIP: $dir has no model.onnx files (only test data); cannot run these cases"
  exit 77
fi
touch "$excl"
exec "$bin" check --exclude "$excl" --min-pass 0.95 "$dir"/*/*/
