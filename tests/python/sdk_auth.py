"""The official SDKs authenticate to Hapax with a key it issued.

Usage: sdk_auth.py HAPAX_URL KEY. The openai SDK sends the key as
`Authorization: Bearer`, the anthropic SDK as `x-api-key`; a wrong key
surfaces as each SDK's AuthenticationError.
"""

import sys

import anthropic
import openai

HAPAX, KEY = sys.argv[1].rstrip("/"), sys.argv[2]
msg = [{"role": "user", "content": "hello there"}]

r = openai.OpenAI(base_url=HAPAX + "/v1", api_key=KEY, max_retries=0).chat.completions.create(model="m", messages=msg)
assert r.choices[0].message.content, r
print("ok openai with a key", flush=True)

try:
    openai.OpenAI(base_url=HAPAX + "/v1", api_key="hpx_000000000000_" + "A" * 43, max_retries=0).chat.completions.create(
        model="m", messages=msg)
    raise SystemExit("a wrong key was accepted by the openai path")
except openai.AuthenticationError as e:
    assert e.status_code == 401, e
print("ok openai refuses a wrong key", flush=True)

r = anthropic.Anthropic(base_url=HAPAX, api_key=KEY, max_retries=0).messages.create(model="m", max_tokens=16, messages=msg)
assert r.content and r.content[0].text, r
print("ok anthropic with a key", flush=True)

try:
    anthropic.Anthropic(base_url=HAPAX, api_key="not-a-key", max_retries=0).messages.create(
        model="m", max_tokens=16, messages=msg)
    raise SystemExit("a wrong key was accepted by the anthropic path")
except anthropic.AuthenticationError as e:
    assert e.status_code == 401, e
print("ok anthropic refuses a wrong key", flush=True)
print("all sdk auth checks passed")
