//! Snapshot tests of rendered diagnostics: one invalid policy per case, every
//! code covered (see `every_code_has_a_case`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

use hapax_lang::{check, load, Code, MemFs, Mode};
use std::collections::HashSet;
use std::path::PathBuf;

const PROVIDER: &str = "provider p { type mock }\n";

/// (name, files) — the first file is the root.
fn cases() -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let one = |src: &str| vec![("/p/main.hapax", src.to_string())];
    let with_p = |src: &str| vec![("/p/main.hapax", format!("{PROVIDER}{src}"))];
    vec![
        // E0101 syntax
        ("syntax_equals_sign", with_p("route r {\n  match = \"/v1/*\"\n  to p\n}\n")),
        ("syntax_colon", one("provider p {\n  type: mock\n}\n")),
        ("syntax_stray_operator", with_p("route r {\n  match POST \"/v1/*\"\n  when request.model ==\n  to p\n}\n")),
        ("syntax_two_errors", one("provider a {\n  type mock\n  latency == 2\n}\nprovider b {\n  type ) mock\n}\n")),
        ("syntax_trailing_junk", one("tier gold { priority 10 } extra\n")),
        // E0102 / E0103
        ("unclosed_block", one("provider p {\n  type mock\n")),
        ("unexpected_brace", one("provider p { type mock }\n}\n")),
        // E0104 / E0105
        ("bad_unit", one("provider p { type mock; latency 20x }\n")),
        ("bad_unit_suggestion", one("provider p { type mock; latency 20sec }\n")),
        ("unterminated_string", one("provider p {\n  type openai_compatible\n  base_url \"http://x\n}\n")),
        ("bad_escape", one("provider p { type openai_compatible; base_url \"http://\\q\" }\n")),
        // E0201 / E0202
        ("unknown_block", one("providr p { type mock }\n")),
        ("unknown_block_setting_at_top", one("timeout 30s\n")),
        ("unknown_setting", one("provider p { type mock; timout 5s }\n")),
        ("setting_in_wrong_block", with_p("route r {\n  match \"/v1/*\"\n  to p\n  burst 5\n}\n")),
        ("arm_outside_split", with_p("route r {\n  match \"/v1/*\"\n  to p\n  50% -> p\n}\n")),
        // E0203
        ("duplicate_provider", one("provider p { type mock }\nprovider p { type mock }\n")),
        ("duplicate_across_files", vec![
            ("/p/main.hapax", "import \"other.hapax\"\nprovider p { type mock }\n".into()),
            ("/p/other.hapax", "provider p { type mock }\n".into()),
        ]),
        ("duplicate_test", with_p("route r { match \"/v1/*\"; to p }\ntest t { expect { route r } }\ntest t { expect { route r } }\n")),
        // E0204
        ("unknown_provider", with_p("route r {\n  match \"/v1/*\"\n  to opnai\n}\n")),
        ("unknown_limit", with_p("limit per_client { requests 10 per 1m }\nroute r {\n  match \"/v1/*\"\n  use per_clent\n  to p\n}\n")),
        ("unknown_queue", with_p("route r {\n  match \"/v1/*\"\n  queue interactive\n  to p\n}\n")),
        ("unknown_cache", with_p("route r {\n  match \"/v1/*\"\n  cache exact\n  to p\n}\n")),
        ("unknown_sla", with_p("route r {\n  match \"/v1/*\"\n  sla chat\n  to p\n}\n")),
        ("unknown_budget", with_p("route r {\n  match \"/v1/*\"\n  budget spend\n  to p\n}\n")),
        ("unknown_script", with_p("route r {\n  match \"/v1/*\"\n  transform request add_prompt\n  to p\n}\n")),
        ("unknown_tier", one("tier gold { priority 10 }\nclient c { tier gld }\n")),
        ("unknown_client_in_test", with_p("route r { match \"/v1/*\"; to p }\ntest t {\n  request { client nobody }\n  expect { route r }\n}\n")),
        ("unknown_route_in_test", with_p("route r { match \"/v1/*\"; to p }\ntest t { expect { route rr } }\n")),
        ("unknown_fallback_provider", with_p("route r {\n  match \"/v1/*\"\n  to p\n  fallback [echo]\n}\n")),
        ("quoted_reference", with_p("route r {\n  match \"/v1/*\"\n  to \"p\"\n}\n")),
        // E0205 - E0211
        ("missing_name", one("provider { type mock }\n")),
        ("duplicate_setting", one("provider p {\n  type mock\n  type openai\n}\n")),
        ("second_gateway", one("gateway { max_body 1MiB }\ngateway { max_body 2MiB }\n")),
        ("import_not_found", one("import \"missing.hapax\"\n")),
        ("import_cycle", vec![
            ("/p/main.hapax", "import \"a.hapax\"\n".into()),
            ("/p/a.hapax", "import \"b.hapax\"\n".into()),
            ("/p/b.hapax", "import \"a.hapax\"\n".into()),
        ]),
        ("missing_cert", one("gateway {\n  listen https \"127.0.0.1:8443\" { cert \"nope.pem\"; key \"nope.key\" }\n}\n")),
        ("missing_script_file", one("script s \"scripts/missing.rhai\"\n")),
        ("nested_declaration", with_p("route r {\n  match \"/v1/*\"\n  to p\n  provider q { type mock }\n}\n")),
        // E0301 - E0312
        ("duration_without_unit", one("provider p { type mock; timeout 30 }\n")),
        ("size_without_unit", one("gateway { max_body 8 }\n")),
        ("string_expected", one("client c { team research }\n")),
        ("too_many_values", one("provider p { type mock; timeout 30s 40s }\n")),
        ("missing_value", one("provider p { type mock; timeout }\n")),
        ("percent_over_100", one("sla s { availability 150% over 30d }\n")),
        ("forward_owned_header", one("provider p { type mock; forward [\"x-team\", \"Authorization\"] }\n")),
        ("forward_not_a_name", one("provider p { type mock; forward [\"x team\", \"x_team\"] }\n")),
        ("busy_poll_too_long", one("gateway { busy_poll 5ms }\n")),
        ("reversed_range", with_p("route r {\n  match \"/v1/*\"\n  to p\n  retry 2 backoff 2s..100ms\n}\n")),
        ("bad_regex", with_p("route r {\n  match \"/v1/*\"\n  when request.model =~ \"gpt-(4\"\n  to p\n}\n")),
        ("bad_glob", with_p("route r {\n  match \"/v1/*\"\n  when request.model matches \"gpt-[4\"\n  to p\n}\n")),
        ("unknown_enum", one("provider p { type opanai }\n")),
        ("unknown_scope", one("limit l { requests 5 per 1m; scope global }\n")),
        ("missing_type", one("provider p { timeout 5s }\n")),
        ("missing_base_url", one("provider p { type openai_compatible }\n")),
        ("limit_limits_nothing", one("limit l { by client.id }\n")),
        ("literal_secret", one("provider p {\n  type openai\n  api_key \"sk-123\"\n}\n")),
        ("bad_address", one("gateway { listen http \"localhost\" }\n")),
        ("bad_url", one("provider p { type openai; base_url \"api.openai.com\" }\n")),
        ("bad_redis_url", one("cluster { store \"127.0.0.1:6379\" }\n")),
        ("env_unset_serve", one("provider p {\n  type openai\n  api_key env(\"HAPAX_TEST_UNSET_KEY\")\n}\n")),
        ("rate_without_per", one("limit l { requests 600 }\n")),
        ("money_currency", one("budget b { spend 500 EUR per month }\n")),
        ("https_without_cert", one("gateway { listen https \"127.0.0.1:8443\" }\n")),
        ("bad_http_status", with_p("route r { match \"/v1/*\"; to p }\ntest t { expect { status 999 } }\n")),
        // E0401 - E0405
        ("type_mismatch", with_p("route r {\n  match \"/v1/*\"\n  when request.model == 4\n  to p\n}\n")),
        ("ordered_compare_string", with_p("route r {\n  match \"/v1/*\"\n  when client.team > 3\n  to p\n}\n")),
        ("unknown_path_field", with_p("route r {\n  match \"/v1/*\"\n  when request.modle == \"x\"\n  to p\n}\n")),
        ("unknown_path_root", with_p("route r {\n  match \"/v1/*\"\n  when requst.model == \"x\"\n  to p\n}\n")),
        ("bare_word_in_expression", with_p("route r {\n  match \"/v1/*\"\n  when client.tier == gold\n  to p\n}\n")),
        ("unknown_function", with_p("route r {\n  match \"/v1/*\"\n  when lenght(request.model) > 3\n  to p\n}\n")),
        ("wrong_arity", with_p("route r {\n  match \"/v1/*\"\n  when lower(request.model, 1) == \"x\"\n  to p\n}\n")),
        ("not_boolean", with_p("route r {\n  match \"/v1/*\"\n  when request.model\n  to p\n}\n")),
        ("duration_in_expression", with_p("route r {\n  match \"/v1/*\"\n  when request.tokens > 5s\n  to p\n}\n")),
        ("pattern_not_literal", with_p("route r {\n  match \"/v1/*\"\n  when request.model matches client.team\n  to p\n}\n")),
        // E0501 - E0505
        ("split_sum", one("provider a { type mock }\nprovider b { type mock }\nroute r {\n  match \"/v1/*\"\n  split {\n    90% -> a\n    20% -> b\n  }\n}\n")),
        ("split_weight_not_percent", one("provider a { type mock }\nroute r {\n  match \"/v1/*\"\n  split {\n    1 -> a\n  }\n}\n")),
        ("fallback_cycle", with_p("route a {\n  match \"/a\"\n  to p\n  fallback [route b]\n}\nroute b {\n  match \"/b\"\n  to p\n  fallback [route a]\n}\n")),
        ("no_target", one("route r { match \"/v1/*\" }\n")),
        ("both_to_and_split", with_p("route r {\n  match \"/v1/*\"\n  to p\n  split { 100% -> p }\n}\n")),
        ("path_without_slash", with_p("route r { match POST \"v1/chat\"; to p }\n")),
        ("missing_match", with_p("route r { to p }\n")),
        ("bad_method", with_p("route r { match FETCH \"/v1/*\"; to p }\n")),
        // E0601
        ("test_expects_nothing", with_p("route r { match \"/v1/*\"; to p }\ntest t { request { model \"x\" } }\n")),
        ("test_bad_body", with_p("route r { match \"/v1/*\"; to p }\ntest t {\n  request { body \"{not json\" }\n  expect { route r }\n}\n")),
        // E0801, E0802, W0107: the Cedar file, checked against the schema.
        ("cedar_syntax", vec![
            ("/p/main.hapax", format!("{PROVIDER}authz {{ cedar \"rbac.cedar\" }}\n")),
            ("/p/rbac.cedar", "permit (principal, action, resource) when { 1 + };\n".into()),
        ]),
        ("cedar_invalid", vec![
            ("/p/main.hapax", format!("{PROVIDER}authz {{ cedar \"rbac.cedar\"; headers [\"x-project\"] }}\n")),
            ("/p/rbac.cedar", "@id(\"typo\")\npermit (principal, action == Hapax::Action::\"cal\", resource);\n\n@id(\"header\")\npermit (principal, action == Hapax::Action::\"call\", resource)\nwhen { context.headers.x_project == \"a\" };\n\n@id(\"typo\")\nforbid (principal, action, resource);\n\n@id(\"tier\")\npermit (principal, action == Hapax::Action::\"call\", resource) when { principal.tier == \"gold\" };\n".into()),
        ]),
        ("role_cycle", vec![
            ("/p/main.hapax", format!("{PROVIDER}authz {{\n  cedar \"rbac.cedar\"\n  role \"a\" inherits [\"b\"]\n  role \"b\" inherits [\"a\"]\n}}\n")),
            ("/p/rbac.cedar", "forbid(principal, action, resource);\n".into()),
        ]),
        // E0701 / W0106: what a test's list says serve refuses (the
        // runtime's own list is tested in hapax-runtime).
        ("not_enforced_serve", vec![
            ("/p/main.hapax", format!("{PROVIDER}authz {{ cedar \"rbac.cedar\"; default deny }}\nlimit l {{ requests 1 per 1m }}\nroute r {{\n  match POST \"/v1/*\"\n  to p\n  use l\n}}\n")),
            ("/p/rbac.cedar", "forbid(principal, action, resource);\n".into()),
        ]),
        ("not_enforced_check", vec![
            ("/p/main.hapax", "gateway {\n  listen http \"127.0.0.1:8080\"\n  listen h3 \"127.0.0.1:8443\" { cert \"c.pem\"; key \"k.pem\" }\n}\n".into()),
            ("/p/c.pem", "cert".into()),
            ("/p/k.pem", "key".into()),
        ]),
        // Warnings
        ("shadowed_route", with_p("route all {\n  match \"/v1/*\"\n  to p\n}\nroute chat {\n  match POST \"/v1/chat/completions\"\n  to p\n}\n")),
        ("cluster_scope_without_cluster", one("limit l { requests 5 per 1m; scope cluster }\n")),
        ("env_unset_check", one("provider p {\n  type openai\n  api_key env(\"HAPAX_TEST_UNSET_KEY\")\n}\n")),
        ("unused_limit", one("limit l { requests 5 per 1m }\n")),
        ("constant_condition", with_p("route r {\n  match \"/v1/*\"\n  when 1 == 1\n  to p\n}\n")),
    ]
}

/// What the `not_enforced_*` cases say serve refuses.
const REFUSED: &[&str] = &["authz", "limit", "route.use", "gateway.listen h3"];

fn render(name: &str, files: &[(&str, String)], mode: Mode) -> (String, Vec<Code>) {
    let mut fs = MemFs::default();
    for (path, text) in files {
        fs.files.insert(PathBuf::from(path), text.clone());
    }
    let loaded = load(&[PathBuf::from(files[0].0)], &fs).expect("root file exists");
    let mut checked = check(loaded, &fs, mode);
    if name.starts_with("not_enforced") {
        hapax_lang::refuse(&mut checked, REFUSED, mode);
    }
    let mut out = String::new();
    for d in &checked.diags.0 {
        out.push_str(&hapax_lang::diag::render(d, &checked.sources, false));
    }
    (out, checked.diags.0.iter().map(|d| d.code).collect())
}

#[test]
fn snapshots() {
    let mut seen = HashSet::new();
    for (name, files) in cases() {
        assert!(seen.insert(name), "duplicate case name {name}");
        let mode = if name.ends_with("_serve") { Mode::Serve } else { Mode::Check };
        let (out, codes) = render(name, &files, mode);
        assert!(!codes.is_empty(), "case {name} reported nothing");
        insta::assert_snapshot!(name, out);
    }
}

#[test]
fn every_code_has_a_case() {
    let mut covered = HashSet::new();
    for (name, files) in cases() {
        let mode = if name.ends_with("_serve") { Mode::Serve } else { Mode::Check };
        covered.extend(render(name, &files, mode).1);
    }
    let missing: Vec<&str> = Code::ALL.iter().filter(|c| !covered.contains(c)).map(|c| c.as_str()).collect();
    assert!(missing.is_empty(), "codes without a snapshot case: {missing:?}");
    assert!(cases().len() >= 60);
}

#[test]
fn json_lines_have_every_field() {
    let files = [("/p/main.hapax", "provider p { type opanai }\n".to_string())];
    let mut fs = MemFs::default();
    fs.files.insert(PathBuf::from(files[0].0), files[0].1.clone());
    let checked = check(load(&[PathBuf::from("/p/main.hapax")], &fs).unwrap(), &fs, Mode::Check);
    let j = hapax_lang::diag::to_json(&checked.diags.0[0], &checked.sources);
    assert_eq!(j["code"], "E0307");
    assert_eq!(j["severity"], "error");
    assert_eq!(j["file"], "/p/main.hapax");
    assert_eq!((j["line"].as_u64(), j["column"].as_u64()), (Some(1), Some(19)));
    assert_eq!((j["end_line"].as_u64(), j["end_column"].as_u64()), (Some(1), Some(25)));
    assert_eq!(j["help"], "did you mean `openai`?");
}
