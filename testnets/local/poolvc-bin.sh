# Sourced by the devnet and e2e scripts: sets POOLVC to the binary they run.
# POOLVC_BIN names one already built (CI passes the one `cargo test` built,
# so the dependency tree is not compiled a second time in release); without
# it, the release binary is built here.
if [ -n "${POOLVC_BIN:-}" ]; then
  [ -x "$POOLVC_BIN" ] || { echo "POOLVC_BIN=$POOLVC_BIN is not an executable" >&2; exit 1; }
  POOLVC="$POOLVC_BIN"
else
  (cd "$ROOT" && cargo build --release -q -p poolvc)
  POOLVC="$ROOT/target/release/poolvc"
fi
