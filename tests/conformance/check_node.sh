#!/bin/sh
# The ONNX operator suite: at least 90% must pass, and every case that does
# not must be on the exclusion list with its reason.
#   usage: check_node.sh SPEEDSTER_BIN NODE_DIR EXCLUSIONS
set -eu
bin=$1 dir=$2 excl=$3
exec "$bin" check --exclude "$excl" --min-pass 0.90 --repeat 3 "$dir"/*/
