#!/usr/bin/env bash
# Time a proxy spends between its system calls on the request path, at
# concurrency 1: from reading the client's request to writing it upstream
# (hop 1), and from reading the provider's answer to writing it to the
# client (hop 2), from `perf` syscall tracepoints (needs perf and root).
# Far less noisy than end-to-end latency on a shared machine.
#
#   bench/critical_path.sh PIDS PORT [REQUESTS]
#
# PIDS: the proxy's processes, comma-separated (nginx: its workers).
# The tracepoints themselves add about a microsecond per system call.
set -euo pipefail
PIDS=$1 PORT=$2 N=${3:-3000}
BIN=${BIN:-$(dirname "$0")/../target/release}
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something short about load balancing."}]}'
DATA=$(mktemp)
trap 'rm -f "$DATA"' EXIT
EVENTS=syscalls:sys_enter_recvfrom,syscalls:sys_exit_recvfrom,syscalls:sys_enter_writev,syscalls:sys_exit_writev,syscalls:sys_enter_epoll_wait,syscalls:sys_exit_epoll_wait
perf record -q -e "$EVENTS" -p "$PIDS" -o "$DATA" -- sleep 2 >/dev/null 2>&1 &
sleep 0.5
"$BIN/hapax-load" --url "http://127.0.0.1:$PORT/v1/chat/completions" --concurrency 1 --requests "$N" --body-json "$BODY" >/dev/null
wait
perf script --ns -i "$DATA" 2>/dev/null | python3 -c '
import re, statistics as st, sys
hops = {"hop 1 (request read -> sent upstream)": [], "hop 2 (answer read -> sent to client)": [], "wake-up (epoll_wait -> first read)": [], "tail after hop 1 (sent -> epoll_wait)": [], "tail after hop 2 (sent -> epoll_wait)": []}
keys = list(hops)
state = {}
for line in sys.stdin:
    m = re.match(r"\s*\S+\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+syscalls:(sys_\w+):", line)
    if not m:
        continue
    tid, t, name = m.group(1), float(m.group(2)) * 1e6, m.group(3)
    s = state.setdefault(tid, {"n": 0})
    if name == "sys_exit_epoll_wait":
        s["woke"] = t
    elif name == "sys_enter_recvfrom" and "woke" in s:
        hops[keys[2]].append(t - s.pop("woke"))
    elif name == "sys_exit_recvfrom":
        s["read"] = t
    elif name == "sys_enter_writev" and "read" in s:
        hops[keys[s["n"] % 2]].append(t - s.pop("read"))
        s["n"] += 1
    elif name == "sys_exit_writev":
        s["sent"] = t
    elif name == "sys_enter_epoll_wait" and "sent" in s:
        hops[keys[3 + (s["n"] + 1) % 2]].append(t - s.pop("sent"))
for k, v in hops.items():
    if v:
        print(f"{k}: p50 {st.median(v):.1f} us, mean {st.mean(v):.1f} us ({len(v)} samples)")
'
