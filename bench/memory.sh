#!/usr/bin/env bash
# Memory under attack (issue: bounded memory): peak RSS while 16
# connections each send an 8 MiB body in one-byte chunks, then /metrics size
# and RSS growth after 20,000 requests with made-up model names. The
# gateway runs the default settings (max_body 8MiB) on a mock provider.
#
#   bench/memory.sh [HAPAX_BINARY]      (default target/release/hapax)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/hapax}
[ "$#" -gt 0 ] || cargo build --release --quiet -p hapax --bin hapax
WORK=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
ADMIN=$(free_port)
cat > "$WORK/p.hapax" <<POLICY
gateway {
  listen http "127.0.0.1:$PORT"
  admin "127.0.0.1:$ADMIN"
  max_body 8MiB
}
provider m { type mock }
route chat {
  match POST "/v1/chat/completions"
  to m
}
POLICY
for part in chunks models; do
  RUST_LOG=warn "$BIN" serve "$WORK/p.hapax" > "$WORK/out" 2>&1 &
  PID=$!
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.05; done
  python3 bench/memory.py "$part" "$PID" "$PORT" "$ADMIN"
  kill "$PID"
  wait "$PID" 2>/dev/null || true
done
rm -rf "$WORK"
