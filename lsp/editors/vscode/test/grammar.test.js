// Tokenizes a sample policy with the real VS Code TextMate engine and checks scopes.
// Run: npm install && node --test test/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const GRAMMAR = path.join(__dirname, "..", "syntaxes", "hapax.tmLanguage.json");

const SAMPLE = `# Hapax sample policy
import "common.hapax"

gateway {
  listen http "127.0.0.1:8080"
  max_body 8MiB
}

provider openai {
  type     openai
  api_key  env("OPENAI_API_KEY")
  timeout  60s
  pool     { max_idle 64; idle_timeout 90s; http2 on }
}

limit per_client {
  by       client.id
  tokens   200k per 1m
}

queue interactive { capacity 1000..5000 adaptive; max_wait 30s }

route chat_gpt4 {
  match    POST "/v1/chat/completions"
  when     request.model matches "gpt-4*" and client.tier == "gold"
  queue    interactive
  split by client.id {
    90% -> openai model "gpt-4o"
  }
  retry    2 backoff 100ms..2s
}

budget research_spend { spend 500 USD per month; warn_at 80% }

price "gpt-4o" { input 2.50 USD per 1M }

test escapes { request { path "/v1/\\"x\\"\\n" } }
`;

let lines; // [{ text, tokens: [{ text, scopes }] }]

test.before(async () => {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== "source.hapax") return null;
      return vsctm.parseRawGrammar(fs.readFileSync(GRAMMAR, "utf8"), GRAMMAR);
    },
  });
  const grammar = await registry.loadGrammar("source.hapax");
  assert.ok(grammar, "grammar loads");

  lines = [];
  let state = vsctm.INITIAL;
  for (const text of SAMPLE.split("\n")) {
    const r = grammar.tokenizeLine(text, state);
    lines.push({
      text,
      tokens: r.tokens.map((t) => ({
        start: t.startIndex,
        end: t.endIndex,
        text: text.slice(t.startIndex, t.endIndex),
        scopes: t.scopes,
      })),
    });
    state = r.ruleStack;
  }
});

/**
 * Scopes at the first occurrence of `tok` on the first line containing `lineHas`
 * (i.e. the scopes of the token covering the first character of `tok`).
 */
function scopesOf(lineHas, tok) {
  const line = lines.find((l) => l.text.includes(lineHas));
  assert.ok(line, `sample has a line containing ${JSON.stringify(lineHas)}`);
  const at = line.text.indexOf(tok);
  assert.ok(at >= 0, `${JSON.stringify(tok)} occurs on line ${JSON.stringify(line.text)}`);
  const t = line.tokens.find((x) => x.start <= at && at < x.end);
  return t.scopes;
}

function hasScope(lineHas, tok, scope) {
  const scopes = scopesOf(lineHas, tok);
  assert.ok(
    scopes.some((s) => s === scope || s.split(" ").includes(scope)),
    `${JSON.stringify(tok)} in ${JSON.stringify(lineHas)} should have ${scope}, has ${JSON.stringify(scopes)}`
  );
}

function lacksScope(lineHas, tok, scope) {
  const scopes = scopesOf(lineHas, tok);
  assert.ok(!scopes.some((s) => s.startsWith(scope)), `${JSON.stringify(tok)} should not have ${scope}: ${scopes}`);
}

test("comments", () => {
  hasScope("# Hapax sample", "# Hapax sample policy", "comment.line.number-sign.hapax");
});

test("strings and escapes", () => {
  hasScope("listen http", "127.0.0.1:8080", "string.quoted.double.hapax");
  hasScope("test escapes", "\\\"", "constant.character.escape.hapax");
  hasScope("test escapes", "\\n", "constant.character.escape.hapax");
});

test("block keywords and declared names", () => {
  hasScope("import", "import", "keyword.control.import.hapax");
  hasScope("gateway {", "gateway", "keyword.other.block.hapax");
  hasScope("provider openai", "provider", "keyword.other.block.hapax");
  hasScope("provider openai", "openai", "entity.name.type.hapax");
  hasScope("route chat_gpt4", "chat_gpt4", "entity.name.type.hapax");
  hasScope('price "gpt-4o"', '"gpt-4o"', "entity.name.type.hapax");
  // A block keyword used as a setting inside a block is a setting, not a declaration.
  hasScope("queue    interactive", "queue", "keyword.other.setting.hapax");
  lacksScope("queue    interactive", "interactive", "entity.name");
});

test("settings", () => {
  hasScope("timeout  60s", "timeout", "keyword.other.setting.hapax");
  hasScope("max_idle 64", "max_idle", "keyword.other.setting.hapax");
});

test("numbers with units", () => {
  hasScope("timeout  60s", "60s", "constant.numeric.duration.hapax");
  hasScope("idle_timeout 90s", "s;", "keyword.other.unit.duration.hapax");
  hasScope("max_body", "8MiB", "constant.numeric.size.hapax");
  hasScope("tokens   200k", "200k", "constant.numeric.multiplier.hapax");
  hasScope("tokens   200k", "1m", "constant.numeric.duration.hapax");
  hasScope("90% ->", "90%", "constant.numeric.percentage.hapax");
  hasScope("max_idle 64", "64", "constant.numeric.hapax");
  hasScope("spend 500 USD", "500 USD", "constant.numeric.money.hapax");
  hasScope("input 2.50 USD", "2.50 USD", "constant.numeric.money.hapax");
  hasScope("input 2.50 USD", "1M", "constant.numeric.multiplier.hapax");
  hasScope("backoff 100ms..2s", "100ms", "constant.numeric.duration.hapax");
  hasScope("backoff 100ms..2s", "..", "keyword.operator.range.hapax");
  hasScope("capacity 1000..5000", "5000", "constant.numeric.hapax");
  hasScope("backoff 100ms..2s", "2s", "constant.numeric.duration.hapax");
});

test("operators, constants, calls, paths", () => {
  hasScope("request.model matches", "matches", "keyword.operator.word.hapax");
  hasScope("request.model matches", "and", "keyword.operator.logical.hapax");
  hasScope("request.model matches", "==", "keyword.operator.comparison.hapax");
  hasScope("request.model matches", "request", "variable.language.hapax");
  hasScope("90% ->", "->", "keyword.operator.arrow.hapax");
  hasScope("tokens   200k", "per", "keyword.operator.rate.hapax");
  hasScope("http2 on", "on", "constant.language.boolean.hapax");
  hasScope("api_key  env", "env", "support.function.builtin.secret.hapax");
  hasScope("match    POST", "POST", "constant.language.http-method.hapax");
});
