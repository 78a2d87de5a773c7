#!/usr/bin/env bash
# A/B load benchmark: two hapax gateways side by side in front of the same
# mock upstream, measured in interleaved rounds by our load generator
# (hapax-load) and by wrk. Use it to measure what a change or a feature
# costs: the same binary with and without a declaration, or two binaries
# (before and after a change) on the same policy.
#
#   bench/ab.sh [DURATION] [ROUNDS]          (default 2s per run, 5 rounds)
#
# Environment (all optional):
#   A_BIN, B_BIN        the hapax binaries (default target/release/hapax)
#   A_DECLS, B_DECLS    declarations added to each side's policy
#   A_ROUTE, B_ROUTE    settings added to each side's route
#   A_HEADER, B_HEADER  one request header, `name: value`, sent to that side
#   A_AUTH, B_AUTH      1: that side declares `auth { api_keys store }` and
#                       every request carries a key it issued
#   CEDAR               the text of `rbac.cedar` beside both policies (for
#                       `authz { cedar "rbac.cedar" }` in a side's decls)
#
# Prints a markdown table of medians; see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-2s}
ROUNDS=${2:-5}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet -p hapax -p hapax-mock-upstream --bins
BIN=target/release
A_BIN=${A_BIN:-$BIN/hapax}
B_BIN=${B_BIN:-$BIN/hapax}
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

printf '%s\n' "${CEDAR:-}" > "$WORK/rbac.cedar"
$BIN/mock-upstream --listen 127.0.0.1:0 > "$WORK/mock.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/mock.out" 2>/dev/null && break; sleep 0.05; done
MOCK=$(sed -n 's/^listening on //p' "$WORK/mock.out")

policy() { # port decls route-settings data-dir
cat <<POLICY
gateway { listen http "127.0.0.1:$1"; data_dir "$4" }
provider primary {
  type     openai_compatible
  base_url "http://$MOCK/v1"
  pool     { max_idle 256 }
}
$2
route chat {
  match POST "/v1/chat/completions"
  when  request.model matches "gpt-*"
  to    primary
  $3
}
POLICY
}
# Started in this shell (not in a command substitution), so that the exit
# trap knows their pids and stops them.
start() { # name bin decls route -> PORT
  PORT=$(free_port)
  policy "$PORT" "$3" "$4" "$WORK/$1-data" > "$WORK/$1.hapax"
  RUST_LOG=warn "$2" serve "$WORK/$1.hapax" > "$WORK/$1.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.05; done
}
# A side with `X_AUTH=1` requires an API key, made here and sent with every
# request.
for side in A B; do
  auth=${side}_AUTH; decls=${side}_DECLS; header=${side}_HEADER; bin=${side}_BIN
  if [ "${!auth:-}" = 1 ]; then
    lower=$(echo "$side" | tr AB ab)
    printf -v "$decls" '%s\nauth { api_keys store }' "${!decls:-}"
    policy 1 "${!decls}" "" "$WORK/$lower-data" > "$WORK/$lower-keys.hapax"
    key=$("${!bin}" keys create --client bench "$WORK/$lower-keys.hapax" | tail -n 1)
    printf -v "$header" 'authorization: Bearer %s' "$key"
  fi
done
start a "$A_BIN" "${A_DECLS:-}" "${A_ROUTE:-}"
A_PORT=$PORT
start b "$B_BIN" "${B_DECLS:-}" "${B_ROUTE:-}"
B_PORT=$PORT

BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something short about load balancing."}]}'
lua() { # header -> a wrk script that POSTs the body
  cat <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["content-type"] = "application/json"
LUA
  if [ -n "$1" ]; then echo "wrk.headers[\"${1%%:*}\"] = \"$(echo "${1#*:}" | sed 's/^ *//')\""; fi
}
lua "${A_HEADER:-}" > "$WORK/a.lua"
lua "${B_HEADER:-}" > "$WORK/b.lua"
for side in a b; do
  port=$A_PORT; hdr=${A_HEADER:-}
  [ $side = b ] && { port=$B_PORT; hdr=${B_HEADER:-}; }
  code=$(curl -s -o /dev/null -w '%{http_code}' ${hdr:+-H "$hdr"} -H 'content-type: application/json' -d "$BODY" "http://127.0.0.1:$port/v1/chat/completions")
  [ "$code" = 200 ] || { echo "side $side answers $code, not 200:" >&2; cat "$WORK/$side.out" >&2; exit 1; }
done

ours() { # side url concurrency
  local hdr=${A_HEADER:-}; [ "$1" = b ] && hdr=${B_HEADER:-}
  echo "$1 hapax-load c$3 $($BIN/hapax-load --url "$2/v1/chat/completions" --concurrency "$3" --duration "$DUR" --warmup 500ms --body-json "$BODY" ${hdr:+--header "$hdr"})"
}
theirs() { # side url concurrency
  local threads=2; [ "$3" = 1 ] && threads=1
  local out; out=$(wrk -t$threads -c"$3" -d"$DUR" --latency -s "$WORK/$1.lua" "$2/v1/chat/completions")
  python3 - "$1" "$3" "$out" <<'PY'
import json, re, sys
side, conc, out = sys.argv[1], sys.argv[2], sys.argv[3]
def us(v, unit): return float(v) * {"us": 1, "ms": 1000, "s": 1e6}[unit]
pct = {p: us(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)}
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
print(f"{side} wrk c{conc} " + json.dumps({"rps": rps, "p50_us": pct.get("50"), "p99_us": pct.get("99"), "errors": int(non2xx.group(1)) if non2xx else 0}))
PY
}
for _ in $(seq "$ROUNDS"); do
  for c in 1 64; do
    for side in a b; do
      port=$A_PORT; [ $side = b ] && port=$B_PORT
      ours $side "http://127.0.0.1:$port" $c
      theirs $side "http://127.0.0.1:$port" $c
    done
  done
done > "$WORK/results.txt"
python3 - "$WORK/results.txt" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    side, tool, conc, js = line.split(" ", 3)
    r = json.loads(js)
    r["errors"] = r.get("errors", 0) + r.get("non_2xx", 0)
    runs.setdefault((tool, conc, side), []).append(r)
med = lambda xs, k: statistics.median([x[k] for x in xs if x.get(k) is not None])
print("| tool | concurrency | A req/s | B req/s | B/A | A p50 ms | B p50 ms | A p99 ms | B p99 ms | errors |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for tool in ("hapax-load", "wrk"):
    for conc in ("c1", "c64"):
        a, b = runs[(tool, conc, "a")], runs[(tool, conc, "b")]
        ra, rb = med(a, "rps"), med(b, "rps")
        errs = sum(x["errors"] for x in a + b)
        print(f"| {tool} | {conc[1:]} | {ra:.0f} | {rb:.0f} | {rb/ra:.3f} | {med(a,'p50_us')/1000:.3f} | {med(b,'p50_us')/1000:.3f} | {med(a,'p99_us')/1000:.3f} | {med(b,'p99_us')/1000:.3f} | {errs} |")
print(f"\nMedians of {min(len(v) for v in runs.values())} interleaved rounds; errors summed over all of them.")
PY
