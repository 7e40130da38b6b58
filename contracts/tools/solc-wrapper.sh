#!/usr/bin/env bash
# solcjs (npm "solc", pinned in package.json) answering as a native solc, so
# that forge compiles offline: forge asks `--version`, then runs
# `solc --base-path B [--include-path I] --standard-json` with the input on stdin.
set -euo pipefail
SOLCJS="$(cd "$(dirname "$0")" && pwd)/node_modules/solc/solc.js"
if [[ " $* " == *" --version "* ]]; then
  echo "solc, the solidity compiler commandline interface"
  echo "Version: $(node "$SOLCJS" --version | sed 's/\.Emscripten\.clang//').Linux.g++"
  exit 0
fi
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --base-path | --include-path) pass+=("$1" "$2"); shift 2 ;;
    --allow-paths) shift 2 ;;
    --standard-json) pass+=("$1"); shift ;;
    *) shift ;;
  esac
done
# Into a file, not a pipe: solcjs exits before a pipe has taken more than
# 64 KiB of its answer (seen: forge got a cut JSON). It may also print a
# ">>> Cannot retry compilation with SMT" line first.
out="$(mktemp)"
in="$(mktemp)"
trap 'rm -f "$out" "$in"' EXIT
# forge's input staged into a file first: solcjs reads its stdin with
# readFileSync, which fails with EAGAIN when the pipe is non-blocking and
# forge has not written everything yet (seen once the input grew). This copy
# waits for data instead.
python3 -c '
import os, select, sys
with open(sys.argv[1], "wb") as f:
    while True:
        try:
            b = os.read(0, 1 << 16)
        except BlockingIOError:
            select.select([0], [], [])
            continue
        if not b:
            break
        f.write(b)
' "$in"
node "$SOLCJS" "${pass[@]}" <"$in" >"$out"
grep -v '^>>>' "$out"
