#!/bin/bash
# Bad inputs: speedster must refuse each one with exit status 1 and exactly one
# non-empty line on stderr that names the problem (the file, node, value or
# field at fault), within 10 s, without a crash or a sanitizer report, and
# without modifying anything it was given.
#
# usage: run_bad.sh SPEEDSTER_BIN WORK_DIR
# Prints one line per (case, command) and ends with "N passed, N failed".
set -u
if [ $# -ne 2 ]; then
    echo "usage: run_bad.sh SPEEDSTER_BIN WORK_DIR" >&2
    exit 2
fi
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$2
here=$(cd "$(dirname "$0")" && pwd)
ulimit -c 0

rm -rf "$work/cases" "$work/out"
mkdir -p "$work/out"
/usr/bin/python3 "$here/make_bad.py" "$work/cases" >/dev/null || { echo "make_bad.py failed" >&2; exit 2; }

# check_untouched, before: the digest of every file speedster is handed.
sums_before=$(cd "$work/cases" && find . -type f ! -name cases.tsv -print0 | sort -z | xargs -0 sha256sum)

passed=0
failed=0
report() {  # report PASS|FAIL "case cmd" "detail"
    if [ "$1" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    printf '%s %-28s %s\n' "$1" "$2" "$3"
}

while IFS=$'\t' read -r name commands model indir expect regex; do
    for cmd in ${commands//,/ }; do
        errf="$work/out/$name.$cmd.err"
        if [ "$cmd" = info ]; then
            timeout 10 "$bin" info "$model" >/dev/null 2>"$errf"
        else
            timeout 10 "$bin" run "$model" -i "$indir" -o "$work/out/$name.out" >/dev/null 2>"$errf"
        fi
        rc=$?
        nlines=$(awk 'END { print NR }' "$errf")
        first=$(head -c 300 "$errf" | head -n 1)
        why=""
        if grep -Eiq 'Sanitizer|Segmentation|core dumped|Aborted|runtime error' "$errf"; then
            why="crash or sanitizer report"
        elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
            why="timed out (10 s)"
        elif [ $rc -ne "$expect" ]; then
            why="exit $rc, want $expect"
        elif [ "$expect" -eq 0 ] && [ "$cmd" = run ] &&
             ! ls "$work/out/$name.out"/output_0.pb "$work/out/$name.out"/output_0.npy >/dev/null 2>&1; then
            why="exit 0 but no output_0.pb or output_0.npy in $work/out/$name.out"
        elif [ "$expect" -ne 0 ]; then
            if [ "$nlines" -ne 1 ] || ! grep -q '[^[:space:]]' "$errf"; then
                why="stderr has $nlines lines, want exactly 1 non-empty"
            elif ! grep -Eiq -- "$regex" "$errf"; then
                why="message does not match /$regex/"
            fi
        fi
        if [ -z "$why" ]; then
            report PASS "$name $cmd" "$first"
        else
            report FAIL "$name $cmd" "$why: $first"
        fi
    done
done <"$work/cases/cases.tsv"

sums_after=$(cd "$work/cases" && find . -type f ! -name cases.tsv -print0 | sort -z | xargs -0 sha256sum)
if [ "$sums_before" = "$sums_after" ]; then
    report PASS check_untouched "every input file has the same sha256 as before"
else
    report FAIL check_untouched "changed: $(diff <(echo "$sums_before") <(echo "$sums_after") | grep '^[<>]' | head -n 3 | tr '\n' ' ')"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
