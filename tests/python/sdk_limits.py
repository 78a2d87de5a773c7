"""The official SDKs surface Hapax's rate limits as their own errors.

Usage: sdk_limits.py HAPAX_URL KEY. The policy allows the key's client two
requests a minute: the openai SDK sees them counted down in
`x-ratelimit-*-requests`, then raises RateLimitError carrying Retry-After
and the headers; the anthropic SDK raises its RateLimitError with
`anthropic-ratelimit-requests-*`.
"""

import sys

import anthropic
import openai

HAPAX, KEY = sys.argv[1].rstrip("/"), sys.argv[2]
msg = [{"role": "user", "content": "hello there"}]
oa = openai.OpenAI(base_url=HAPAX + "/v1", api_key=KEY, max_retries=0)

for left in ("1", "0"):
    raw = oa.chat.completions.with_raw_response.create(model="m", messages=msg, max_tokens=16)
    assert raw.headers["x-ratelimit-limit-requests"] == "2", raw.headers
    assert raw.headers["x-ratelimit-remaining-requests"] == left, raw.headers
    assert raw.parse().choices[0].message.content
print("ok openai counts down x-ratelimit-remaining-requests", flush=True)

try:
    oa.chat.completions.create(model="m", messages=msg, max_tokens=16)
    raise SystemExit("a third request was admitted")
except openai.RateLimitError as e:
    assert e.status_code == 429, e
    assert e.code == "rate_limit_exceeded", e.body
    h = e.response.headers
    assert 1 <= int(h["retry-after"]) <= 60, h
    assert h["x-ratelimit-remaining-requests"] == "0", h
    assert h["x-ratelimit-reset-requests"].endswith("s"), h
print("ok openai raises RateLimitError with Retry-After and the headers", flush=True)

try:
    anthropic.Anthropic(base_url=HAPAX, api_key=KEY, max_retries=0).messages.create(
        model="m", max_tokens=16, messages=msg)
    raise SystemExit("the anthropic path admitted a request over the limit")
except anthropic.RateLimitError as e:
    assert e.status_code == 429, e
    h = e.response.headers
    assert h["anthropic-ratelimit-requests-limit"] == "2", h
    assert h["anthropic-ratelimit-requests-remaining"] == "0", h
    assert int(h["retry-after"]) >= 1, h
print("ok anthropic raises RateLimitError with anthropic-ratelimit-*", flush=True)
print("all sdk limit checks passed")
