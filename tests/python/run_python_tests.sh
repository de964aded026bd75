#!/bin/sh
# usage: tests/python/run_python_tests.sh BUILD_DIR
# Runs the Python package's tests with Debian's /usr/bin/python3 against
# BUILD_DIR/libspeedster.so; prints each script's checks and a final
# "N passed, N failed"; exits non-zero when a check fails.
# SPD_PY_RESNET50_SAMPLES sets the samples of the spec's resnet50 example.
set -u
if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ ! -f "$build/libspeedster.so" ]; then
    echo "$0: $build/libspeedster.so is missing: build it first (cmake --build $1)" >&2
    exit 2
fi
export SPEEDSTER_LIB="$build/libspeedster.so"
export PYTHONPATH="$repo/python${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-/usr/bin/python3}
log=${SPD_PY_LOG:-/dev/null}   # the library's progress lines and tables (stderr of the scripts)
passed=0 failed=0 status=0
cd "$here" || exit 2
for t in test_errors.py test_models.py test_spec_examples.py; do
    echo "== $t"
    out=$("$py" "$t" 2>>"$log")
    rc=$?
    printf '%s\n' "$out"
    last=$(printf '%s\n' "$out" | tail -n 1)
    p=$(printf '%s\n' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(printf '%s\n' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then
        echo "FAIL $t crashed (exit $rc)"
        p=0 f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    [ $rc -ne 0 ] && status=1
done
echo "$passed passed, $failed failed"
[ $failed -ne 0 ] && status=1
exit $status
