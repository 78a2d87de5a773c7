#!/usr/bin/env bash
# Load benchmark: the same requests (a) straight to the mock upstream,
# (b) through nginx as a plain keep-alive reverse proxy and (c) through
# hapax with a realistic policy (route match with `when`, a split, a
# fallback), and (d) through hapax with the same policy and busy polling
# off (`busy_poll off`). Prints a markdown table with the proxies' CPU time
# per request; see docs/benchmarks.md.
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
NGINX_PIDS=$(pgrep -P "$(cat "$WORK/logs/nginx.pid")" | tr '\n' ' ')

# (c) hapax
HAPAX_PORT=$(free_port)
ADMIN_PORT=$(free_port)
policy() { # port admin-port [extra gateway setting]
cat <<POLICY
gateway {
  listen http "127.0.0.1:$1"
  admin       "127.0.0.1:$2"
  ${3:-}
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
}
policy "$HAPAX_PORT" "$ADMIN_PORT" > "$WORK/bench.hapax"
RUST_LOG=warn $BIN/hapax serve "$WORK/bench.hapax" > "$WORK/hapax.out" 2>&1 &
HAPAX_PID=$!
pids+=($HAPAX_PID)
# (d) hapax without busy polling
NOPOLL_PORT=$(free_port)
policy "$NOPOLL_PORT" "$(free_port)" "busy_poll off" > "$WORK/nopoll.hapax"
RUST_LOG=warn $BIN/hapax serve "$WORK/nopoll.hapax" > "$WORK/nopoll.out" 2>&1 &
NOPOLL_PID=$!
pids+=($NOPOLL_PID)
for port in "$HAPAX_PORT" "$NOPOLL_PORT"; do
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.05; done
done
sleep 1
rss() { awk -v k="$2" '$1==k {print $2}' "/proc/$1/status"; }
IDLE_RSS=$(rss $HAPAX_PID VmRSS:)

BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something short about load balancing."}]}'
SBODY='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say something short about load balancing."}]}'
# CPU time, in nanoseconds, that the threads of the given processes have run.
# (None for the direct runs: `cat` with no files would read standard input.)
cpu_ns() {
  [ $# -gt 0 ] || { echo 0; return; }
  cat $(for p in "$@"; do echo /proc/"$p"/task/*/schedstat; done) 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'
}
run() { # name "pids" url concurrency [--stream]
  local body=$BODY; [ "${5:-}" = "--stream" ] && body=$SBODY
  local before after out
  before=$(cpu_ns $2)
  out=$($BIN/hapax-load --url "$3/v1/chat/completions" --concurrency "$4" --duration "$DUR" --warmup 500ms --body-json "$body" ${5:-})
  after=$(cpu_ns $2)
  echo "$1 c$4 ${5:-plain} $((after - before)) $out"
}
# A first pass warms every path (connections, pools, caches); it is not counted.
for t in "http://$MOCK" "http://127.0.0.1:$NGINX_PORT" "http://127.0.0.1:$HAPAX_PORT" "http://127.0.0.1:$NOPOLL_PORT"; do
  $BIN/hapax-load --url "$t/v1/chat/completions" --concurrency 64 --duration 1s --body-json "$BODY" > /dev/null
done
for _ in $(seq "$ROUNDS"); do
  for setting in "1" "64" "1 --stream"; do
    run direct "" "http://$MOCK" $setting
    run nginx "$NGINX_PIDS" "http://127.0.0.1:$NGINX_PORT" $setting
    run hapax "$HAPAX_PID" "http://127.0.0.1:$HAPAX_PORT" $setting
    run hapax-nopoll "$NOPOLL_PID" "http://127.0.0.1:$NOPOLL_PORT" $setting
  done
done > "$WORK/results.txt"
PEAK_RSS=$(rss $HAPAX_PID VmHWM:)
python3 - "$WORK/results.txt" "$IDLE_RSS" "$PEAK_RSS" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, conc, mode, cpu, js = line.split(" ", 4)
    r = json.loads(js)
    # The CPU time covers the 500 ms warm-up too, whose requests are not
    # counted: scale the count to the whole run at the measured rate.
    sent = r["requests"] * (r["duration_s"] + 0.5) / r["duration_s"]
    r["cpu_us"] = int(cpu) / 1000 / max(sent, 1) if name != "direct" else None
    runs.setdefault((name, conc, mode), []).append(r)
def median(xs, key):
    vals = [x[key] for x in xs if x.get(key) is not None]
    return statistics.median(vals) if vals else None
rows = {k: {key: median(v, key) for key in ("rps", "p50_us", "p99_us", "ttfb_p50_us", "errors", "non_2xx", "cpu_us")} for k, v in runs.items()}
rounds = min(len(v) for v in runs.values())
def us(v): return "-" if v is None else f"{v/1000:.3f}"
print("| target | concurrency | mode | requests/s | p50 ms | p99 ms | added p50 ms | added p99 ms | TTFB p50 ms | proxy CPU µs/request | errors |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for (name, conc, mode), r in rows.items():
    d = rows[("direct", conc, mode)]
    add50 = "-" if name == "direct" else us(r["p50_us"] - d["p50_us"])
    add99 = "-" if name == "direct" else us(r["p99_us"] - d["p99_us"])
    errors = sum(x["errors"] + x["non_2xx"] for x in runs[(name, conc, mode)])
    cpu = "-" if r["cpu_us"] is None else f"{r['cpu_us']:.1f}"
    print(f"| {name} | {conc[1:]} | {mode} | {r['rps']:.0f} | {us(r['p50_us'])} | {us(r['p99_us'])} | {add50} | {add99} | {us(r.get('ttfb_p50_us'))} | {cpu} | {errors} |")
print(f"\nMedians of {rounds} interleaved rounds; errors are summed over all of them.")
print(f"\nhapax RSS: idle {int(sys.argv[2])/1024:.1f} MiB, peak under load {int(sys.argv[3])/1024:.1f} MiB")
PY
