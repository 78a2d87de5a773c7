#!/usr/bin/env bash
# Load benchmark: the same requests (a) straight to the mock upstream,
# (b) through nginx as a plain keep-alive reverse proxy and (c) through
# hapax with a realistic policy (route match with `when`, a split, a
# fallback). Prints a markdown table; see docs/benchmarks.md.
#
#   bench/load.sh [DURATION] [ROUNDS]     (default 2s per run, 5 rounds)
#
# This machine is shared and its speed drifts by tens of percent from one
# minute to the next, so the targets take turns: every round runs direct,
# nginx and hapax back to back for each setting, and the table gives the
# median of the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/nginx-conf.sh
DUR=${1:-2s}
ROUNDS=${2:-5}
command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
cargo build --release --quiet -p hapax -p hapax-mock-upstream --bins
BIN=target/release
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; nginx -p "$WORK" -c nginx.conf -s stop 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# (a) the mock upstream
$BIN/mock-upstream --listen 127.0.0.1:0 > "$WORK/mock.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/mock.out" 2>/dev/null && break; sleep 0.05; done
MOCK=$(sed -n 's/^listening on //p' "$WORK/mock.out")

# (b) nginx, keep-alive pool to the upstream, no buffering (SSE passes through)
NGINX_PORT=$(free_port)
mkdir -p "$WORK/logs"
nginx_conf "$WORK/nginx.conf" "$NGINX_PORT" "$MOCK" "worker_processes auto;"
nginx -p "$WORK" -c nginx.conf

# (c) hapax
HAPAX_PORT=$(free_port)
ADMIN_PORT=$(free_port)
cat > "$WORK/bench.hapax" <<POLICY
gateway {
  listen http "127.0.0.1:$HAPAX_PORT"
  admin       "127.0.0.1:$ADMIN_PORT"
}

provider primary {
  type     openai_compatible
  base_url "http://$MOCK/v1"
  pool     { max_idle 256 }
}

provider secondary {
  type     openai_compatible
  base_url "http://$MOCK/v1"
  pool     { max_idle 256 }
}

provider backup { type mock }

route research {
  match POST "/v1/chat/completions"
  when  request.model matches "gpt-4*" and request.header["x-team"] == "research"
  to    primary
}

route chat {
  match    POST "/v1/chat/completions"
  when     request.model matches "gpt-*"
  split {
    50% -> primary
    50% -> secondary
  }
  fallback [backup]
}
POLICY
RUST_LOG=warn $BIN/hapax serve "$WORK/bench.hapax" > "$WORK/hapax.out" 2>&1 &
HAPAX_PID=$!
pids+=($HAPAX_PID)
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$HAPAX_PORT/healthz" && break; sleep 0.05; done
sleep 1
rss() { awk -v k="$2" '$1==k {print $2}' "/proc/$1/status"; }
IDLE_RSS=$(rss $HAPAX_PID VmRSS:)

BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something short about load balancing."}]}'
SBODY='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say something short about load balancing."}]}'
run() { # name url concurrency [--stream]
  local body=$BODY; [ "${4:-}" = "--stream" ] && body=$SBODY
  $BIN/hapax-load --url "$2/v1/chat/completions" --concurrency "$3" --duration "$DUR" --warmup 500ms --body-json "$body" ${4:-} | sed "s/^/$1 c$3 ${4:-plain} /"
}
# A first pass warms every path (connections, pools, caches); it is not counted.
for t in "http://$MOCK" "http://127.0.0.1:$NGINX_PORT" "http://127.0.0.1:$HAPAX_PORT"; do
  $BIN/hapax-load --url "$t/v1/chat/completions" --concurrency 64 --duration 1s --body-json "$BODY" > /dev/null
done
for _ in $(seq "$ROUNDS"); do
  for setting in "1" "64" "1 --stream"; do
    run direct "http://$MOCK" $setting
    run nginx "http://127.0.0.1:$NGINX_PORT" $setting
    run hapax "http://127.0.0.1:$HAPAX_PORT" $setting
  done
done > "$WORK/results.txt"
PEAK_RSS=$(rss $HAPAX_PID VmHWM:)
python3 - "$WORK/results.txt" "$IDLE_RSS" "$PEAK_RSS" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, conc, mode, js = line.split(" ", 3)
    runs.setdefault((name, conc, mode), []).append(json.loads(js))
def median(xs, key):
    vals = [x[key] for x in xs if x.get(key) is not None]
    return statistics.median(vals) if vals else None
rows = {k: {key: median(v, key) for key in ("rps", "p50_us", "p99_us", "ttfb_p50_us", "errors", "non_2xx")} for k, v in runs.items()}
rounds = min(len(v) for v in runs.values())
def us(v): return "-" if v is None else f"{v/1000:.3f}"
print("| target | concurrency | mode | requests/s | p50 ms | p99 ms | added p50 ms | added p99 ms | TTFB p50 ms | errors |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for (name, conc, mode), r in rows.items():
    d = rows[("direct", conc, mode)]
    add50 = "-" if name == "direct" else us(r["p50_us"] - d["p50_us"])
    add99 = "-" if name == "direct" else us(r["p99_us"] - d["p99_us"])
    errors = sum(x["errors"] + x["non_2xx"] for x in runs[(name, conc, mode)])
    print(f"| {name} | {conc[1:]} | {mode} | {r['rps']:.0f} | {us(r['p50_us'])} | {us(r['p99_us'])} | {add50} | {add99} | {us(r.get('ttfb_p50_us'))} | {errors} |")
print(f"\nMedians of {rounds} interleaved rounds; errors are summed over all of them.")
print(f"\nhapax RSS: idle {int(sys.argv[2])/1024:.1f} MiB, peak under load {int(sys.argv[3])/1024:.1f} MiB")
PY
