#!/usr/bin/env python3
"""Memory under attack, against a running gateway (see bench/memory.sh).

Each part runs against a fresh gateway (the first argument names it).

1. Bodies in one-byte chunks: CONNS connections at once, each sending a
   body of SIZE bytes as `1\\r\\na\\r\\n` chunks; the gateway's peak RSS.
2. Made-up model names: MODELS requests, each with a distinct ~200-character
   model name; the size of /metrics and the growth of RSS.

Prints one JSON object per part. Loopback only; every loop is bounded.
"""
import http.client
import json
import socket
import sys
import threading
import time

part, pid, port, admin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
CONNS, SIZE, MODELS = 16, 8 * 1024 * 1024, 20_000


def status(key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def one_byte_chunks(results, i):
    body = b"1\r\na\r\n" * SIZE + b"0\r\n\r\n"
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    try:
        s.sendall(head)
        view = memoryview(body)
        for at in range(0, len(body), 1 << 20):
            s.sendall(view[at : at + (1 << 20)])
        answer = s.recv(64)
        results[i] = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError as e:
        results[i] = f"error: {e}"
    finally:
        s.close()


def chunks_part():
    before = status("VmRSS:")
    results = [None] * CONNS
    threads = [threading.Thread(target=one_byte_chunks, args=(results, i)) for i in range(CONNS)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return {
        "part": "one-byte chunks",
        "connections": CONNS,
        "body_bytes": SIZE,
        "wire_bytes_each": 6 * SIZE + 5,
        "seconds": round(time.time() - started, 2),
        "rss_before_mib": round(before / 2**20, 1),
        "peak_rss_mib": round(status("VmHWM:") / 2**20, 1),
        "answers": sorted(set(results)),
    }


def models_part():
    before = status("VmRSS:")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    codes = {}
    for i in range(MODELS):
        model = f"made-up-model-{i:05d}-" + "x" * 180
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
        c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        codes[r.status] = codes.get(r.status, 0) + 1
    c.close()
    time.sleep(0.5)
    m = http.client.HTTPConnection("127.0.0.1", admin, timeout=30)
    m.request("GET", "/metrics")
    metrics = m.getresponse().read()
    return {
        "part": "made-up model names",
        "requests": MODELS,
        "statuses": codes,
        "metrics_bytes": len(metrics),
        "rss_growth_mib": round((status("VmRSS:") - before) / 2**20, 1),
        "made_up_in_metrics": b"made-up-model" in metrics,
    }


print(json.dumps(chunks_part() if part == "chunks" else models_part()))
