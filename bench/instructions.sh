#!/usr/bin/env bash
# Instructions a proxy runs in user space per request, counted by callgrind:
# the same requests, one at a time, through hapax (one worker, the load
# benchmark's policy) and through nginx (one worker, the load benchmark's
# configuration), to the mock upstream. Unlike timings, the counts do not
# move with the machine's load, so a change to the request path can be
# measured to a fraction of a percent. Kernel time is not counted.
#
#   bench/instructions.sh [REQUESTS]      (default 1000, after 200 unmeasured)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/nginx-conf.sh
N=${1:-1000}
need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need valgrind valgrind
need nginx nginx
cargo build --release --quiet -p hapax -p hapax-mock-upstream --bins
BIN=$PWD/target/release
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$BIN/mock-upstream" --listen 127.0.0.1:0 > "$WORK/mock.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/mock.out" 2>/dev/null && break; sleep 0.05; done
MOCK=$(sed -n 's/^listening on //p' "$WORK/mock.out")
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something short about load balancing."}]}'

# count NAME PORT COMMAND...: runs COMMAND under callgrind, sends 200
# requests, zeroes the counts, sends N more, and prints the count per request.
count() {
  local name=$1 port=$2
  shift 2
  valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.%p" "$@" > "$WORK/$name.log" 2>&1 &
  local vp=$!
  pids+=($vp)
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  local url="http://127.0.0.1:$port/v1/chat/completions"
  "$BIN/hapax-load" --url "$url" --concurrency 1 --requests 200 --body-json "$BODY" > /dev/null
  callgrind_control -z "$vp" > /dev/null 2>&1
  "$BIN/hapax-load" --url "$url" --concurrency 1 --requests "$N" --body-json "$BODY" > /dev/null
  callgrind_control -d "$vp" > /dev/null 2>&1
  sleep 0.5
  kill "$vp"
  wait "$vp" 2>/dev/null || true
  local total
  total=$(awk '/^summary:/ {print $2}' "$WORK/$name".*.1)
  echo "| $name | $((total / N)) |"
}

NGINX_PORT=$(free_port)
mkdir -p "$WORK/logs"
nginx_conf "$WORK/nginx.conf" "$NGINX_PORT" "$MOCK" "worker_processes 1;
master_process off;
daemon off;"

HAPAX_PORT=$(free_port)
ADMIN_PORT=$(free_port)
# The load benchmark's policy, on these ports, without busy polling: a
# polling worker runs instructions while it waits, as many as the wait is
# long, which would hide the request's own.
sed -n '/^cat <<POLICY/,/^POLICY/p' bench/load.sh | sed '1d;$d' |
  sed "s/\$1/$HAPAX_PORT/; s/\$2/$ADMIN_PORT/; s/\${3:-}/busy_poll off/; s/\$MOCK/$MOCK/g" > "$WORK/bench.hapax"

echo "| proxy | instructions per request |"
echo "| --- | --- |"
count nginx "$NGINX_PORT" nginx -p "$WORK" -c nginx.conf
HAPAX_WORKERS=1 RUST_LOG=warn count hapax "$HAPAX_PORT" "$BIN/hapax" serve "$WORK/bench.hapax"
echo
echo "Counted over $N requests at concurrency 1, after 200 that are not counted."
