#!/usr/bin/env bash
# The keymanager API against its OpenAPI document, property-based:
# schemathesis (pinned in requirements.lock, from PyPI) generates requests
# for every route and method of spec/keymanager-oapi.yaml, valid and
# invalid, with the token, against a `poolvc vc --http` that runs against
# the simulated node (tests' simnode binary) with 8 keys. Every check of
# schemathesis runs (schemathesis.toml says where one is off, and why):
# no 5xx, only the statuses the document lists, response bodies and
# content types as documented, invalid data refused, valid data accepted.
#
#   POOLVC_BIN / SIMNODE_BIN: the binaries (default: target/debug, built if absent)
#   RUN_DIR: scratch directory (default: a new temp dir)
#   MAX_EXAMPLES: examples per operation (default 40)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
POOLVC="${POOLVC_BIN:-$ROOT/target/debug/poolvc}"
SIMNODE="${SIMNODE_BIN:-$ROOT/target/debug/simnode}"
RUN="${RUN_DIR:-$(mktemp -d)}"
[ -x "$POOLVC" ] || (cd "$ROOT" && cargo build -q -p poolvc --bin poolvc)
[ -x "$SIMNODE" ] || (cd "$ROOT" && cargo build -q -p poolvc-tests --bin simnode)

VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/schemathesis" ] || ! cmp -s "$HERE/requirements.lock" "$VENV/installed-lock" 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.lock" >&2
  cp "$HERE/requirements.lock" "$VENV/installed-lock"
fi

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"$SIMNODE" --preset minimal --validators 16 --electra-epoch 0 --fulu-epoch 0 --slot-ms 2000 \
  --genesis-delay-s 4 --until-slot 400 --check-epochs 1 --report "$RUN/report.json" \
  > "$RUN/simnode.out" 2> "$RUN/simnode.err" &
PIDS+=($!)
for _ in $(seq 1 60); do grep -q '^url=' "$RUN/simnode.out" 2>/dev/null && break; sleep 1; done
URL="$(sed -n 's/^url=\([^ ]*\).*/\1/p' "$RUN/simnode.out" | head -1)"
[ -n "$URL" ] || { echo "conformance: simnode did not start"; cat "$RUN/simnode.err"; exit 1; }

"$POOLVC" keys interop --range 0..7 --out "$RUN/vc" >/dev/null
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
RUST_LOG=warn "$POOLVC" vc --beacon-nodes "$URL" --datadir "$RUN/vc" --init-slashing-protection \
  --suggested-fee-recipient 0x00000000000000000000000000000000000000aa --http --http-port "$PORT" \
  > "$RUN/vc.log" 2>&1 &
VC=$!
PIDS+=($VC)
TOKEN_FILE="$RUN/vc/validators/api-token.txt"
for _ in $(seq 1 60); do
  [ -s "$TOKEN_FILE" ] && curl -sf -o /dev/null -H "Authorization: Bearer $(cat "$TOKEN_FILE")" \
    "http://127.0.0.1:$PORT/eth/v1/keystores" && break
  kill -0 "$VC" 2>/dev/null || { echo "conformance: poolvc stopped"; cat "$RUN/vc.log"; exit 1; }
  sleep 1
done
TOKEN="$(cat "$TOKEN_FILE")"
KEY0="$(sed -n 's/.*voting_public_key: *"\{0,1\}\(0x[0-9a-f]*\).*/\1/p' "$RUN/vc/validators/validator_definitions.yml" | head -1)"
export KEY0
echo "conformance: poolvc keymanager API on port $PORT (simnode $URL); schemathesis $(cat "$HERE/requirements.lock")"

set +e
"$VENV/bin/schemathesis" --config-file "$HERE/schemathesis.toml" run "$HERE/spec/keymanager-oapi.yaml" \
  --url "http://127.0.0.1:$PORT" \
  --header "Authorization: Bearer $TOKEN" \
  --max-examples "${MAX_EXAMPLES:-40}" \
  --seed 1 \
  --no-color 2>&1 | tee "$RUN/schemathesis.out"
rc=${PIPESTATUS[0]}
set -e
kill -0 "$VC" 2>/dev/null || { echo "conformance: poolvc died during the run"; cat "$RUN/vc.log"; exit 1; }
# The client kept its keys through random deletions of random keys.
KEYS="$(curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/eth/v1/keystores" \
  | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')"
echo "conformance: schemathesis exit $rc; keys still held: $KEYS"
if grep -q "panicked" "$RUN/vc.log"; then echo "conformance: poolvc panicked"; grep -n panicked "$RUN/vc.log"; exit 1; fi
exit "$rc"
