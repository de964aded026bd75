#!/bin/sh
# Installs the Debian 12 packages speedster's build, tests and benchmarks need.
# Safe to run again: it installs only what is missing. Node.js (for the
# ONNX Runtime side of bench/) is not needed by the tests: bench/run_bench.sh
# says so when npm is missing.
set -eu
pkgs="build-essential cmake clang libclang-rt-14-dev valgrind python3-onnx python3-numpy python3-torch python3-torchvision python3-sklearn libdnnl-dev libopenblas-dev"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi
echo "setup: all packages present"
