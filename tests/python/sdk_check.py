"""Drives a running Hapax with the official `openai` and `anthropic` SDKs.

Usage: sdk_check.py HAPAX_URL MOCK_URL. Exits non-zero with a message on the
first failed check; prints one line per passed check.
"""

import json
import sys
import urllib.request

import anthropic
import openai

HAPAX, MOCK = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/")


def mock_config(cfg):
    req = urllib.request.Request(MOCK + "/_mock/config", data=json.dumps(cfg).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    urllib.request.urlopen(req).read()


def ok(name):
    print(f"ok {name}", flush=True)


oai = openai.OpenAI(base_url=HAPAX + "/v1", api_key="unused", max_retries=0)

# Chat, non-streaming.
r = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello there"}])
assert r.object == "chat.completion", r
assert r.choices[0].message.role == "assistant" and r.choices[0].message.content, r
assert r.usage and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, r.usage
ok("chat")

# Chat, streaming with usage.
chunks = list(oai.chat.completions.create(model="gpt-4o", stream=True, stream_options={"include_usage": True},
                                          messages=[{"role": "user", "content": "stream me some words"}]))
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert text.strip(), chunks
assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0, chunks[-1]
assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
ok("chat stream with usage")

# Tools.
r = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "please call tool"}],
                                tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}])
assert r.choices[0].finish_reason == "tool_calls" and r.choices[0].message.tool_calls[0].function.name == "lookup", r
ok("tools")

# Images in content parts pass through.
r = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": [
    {"type": "text", "text": "what is this"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}])
assert r.choices[0].message.content, r
ok("image parts")

# Embeddings (the SDK asks for base64 by default).
e = oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
assert len(e.data) == 2 and len(e.data[0].embedding) > 0, e
ok("embeddings")

# Models.
models = [m.id for m in oai.models.list()]
assert "gpt-4o" in models, models
ok("models")

# Errors: no route (404), body too large (413), upstream failure without fallback.
try:
    oai.completions.create(model="gpt-4o", prompt="x")
    raise AssertionError("expected 404")
except openai.NotFoundError as err:
    assert err.status_code == 404 and err.body, err
ok("404 not found")
try:
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x" * 200_000}])
    raise AssertionError("expected 413")
except openai.APIStatusError as err:
    assert err.status_code == 413, err
ok("413 too large")
mock_config({"status": 500})
try:
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    raise AssertionError("expected an upstream error")
except openai.InternalServerError as err:
    assert err.status_code in (500, 502), err
finally:
    mock_config({})
ok("upstream 5xx surfaces as InternalServerError")

# OpenAI client -> Anthropic upstream, translated both ways.
r = oai.chat.completions.create(model="claude-via-chat", messages=[{"role": "system", "content": "be brief"},
                                                                   {"role": "user", "content": "hello claude"}])
assert r.choices[0].message.content and r.usage.prompt_tokens > 0, r
chunks = list(oai.chat.completions.create(model="claude-via-chat", stream=True, stream_options={"include_usage": True},
                                          messages=[{"role": "user", "content": "stream from claude"}]))
assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip(), chunks
ok("openai client to anthropic upstream (stream and not)")

# Anthropic client -> Anthropic upstream, and -> OpenAI upstream.
ant = anthropic.Anthropic(base_url=HAPAX, api_key="unused", max_retries=0)
for model in ["claude-sonnet-4-5", "gpt-via-messages"]:
    m = ant.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert m.type == "message" and m.content[0].type == "text" and m.content[0].text, m
    assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0, m.usage
    with ant.messages.stream(model=model, max_tokens=64, messages=[{"role": "user", "content": "stream please"}]) as s:
        streamed = "".join(s.text_stream)
        final = s.get_final_message()
    assert streamed.strip() and final.stop_reason == "end_turn", (streamed, final)
    ok(f"anthropic client, {model} (stream and not)")

print("all sdk checks passed")
