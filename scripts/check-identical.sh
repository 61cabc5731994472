#!/usr/bin/env bash
# Byte-identity check for refactors: every file `routecal report` derives (report.md/html/json,
# CSVs, charts, routes files) must be the same from two binaries on the same journals.
#
# usage: scripts/check-identical.sh OLD_BIN NEW_BIN [SUITE...]
#   SUITE defaults to the shipped suites under datasets/. The runs are made once with OLD_BIN
#   (offline, recorded answers), then re-derived by each binary into its own copy and compared.
set -euo pipefail
old=$1 new=$2; shift 2
suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then suites=(datasets/mt-bench datasets/llm-drift datasets/llmdrift-happy-500); fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for suite in "${suites[@]}"; do
  name=$(basename "$suite")
  "$old" run --suite "$suite" --out "$work/runs-$name" --quiet >/dev/null
  run=$(find "$work/runs-$name" -mindepth 1 -maxdepth 1 -type d | head -1)
  for side in old new; do
    # Both sides derive at the same path, so paths printed in the output compare equal.
    cp -r "$run" "$work/cur"
    bin=$old; [ "$side" = new ] && bin=$new
    "$bin" report "$work/cur" --quiet >/dev/null
    "$bin" report "$work/cur" --json >"$work/$side-$name.stdout.json"
    "$bin" report "$work/cur" >"$work/$side-$name.stdout.txt"
    mv "$work/cur" "$work/$side-$name"
  done
  if diff -r "$work/old-$name" "$work/new-$name" >"$work/diff-$name" &&
     diff "$work/old-$name.stdout.json" "$work/new-$name.stdout.json" >>"$work/diff-$name" &&
     diff "$work/old-$name.stdout.txt" "$work/new-$name.stdout.txt" >>"$work/diff-$name"; then
    echo "identical: $name ($(find "$work/new-$name" -type f | wc -l) files)"
  else
    echo "DIFFERENT: $name"; head -40 "$work/diff-$name"; status=1
  fi
done
exit $status
