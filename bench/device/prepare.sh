#!/bin/bash
# Fills .dev/ (git-ignored through .git/info/exclude) with what a device
# machine lacks for bench/device/run.sh: Debian's oneDNN library and headers
# (the image has no libdnnl), and the generated conformance cases.
# Run here, after `make`; then carry .dev in the device call.
set -eu
cd "$(dirname "$0")/../.."
mkdir -p .git/info .dev/lib
grep -qx '/.dev/' .git/info/exclude 2>/dev/null || echo '/.dev/' >>.git/info/exclude
rm -rf .dev/lib/* .dev/include
xz -T2 -1 -c /usr/lib/x86_64-linux-gnu/libdnnl.so.2 >.dev/lib/libdnnl.so.2.xz
cp -L /lib/x86_64-linux-gnu/libOpenCL.so.1 .dev/lib/
mkdir -p .dev/include && cp -r /usr/include/oneapi .dev/include/
tar czf .dev/conf.tgz -C build/testdata conformance
du -sh .dev
