//! `docs/diagnostics.md` is generated from the table of codes; this test
//! fails when it is out of date (run with `UPDATE_DOCS=1` to rewrite it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

use hapax_lang::Code;
use std::path::Path;

fn render() -> String {
    let mut out = String::from(
        "# Diagnostic codes\n\nGenerated from `lang/src/codes.rs` by the test `lang/tests/codes_doc.rs`; do not edit by hand.\n`hapax explain CODE` prints the same line. Errors (E) stop `check`, `test` and `serve`; warnings (W) do\nnot, unless `hapax check --deny-warnings` is given.\n\n| code | severity | meaning |\n| --- | --- | --- |\n",
    );
    for c in Code::ALL {
        out.push_str(&format!("| {} | {} | {} |\n", c.as_str(), c.severity().as_str(), c.title()));
    }
    out
}

#[test]
fn diagnostics_doc_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/diagnostics.md");
    let want = render();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).expect("writable");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        have, want,
        "docs/diagnostics.md is out of date: run `UPDATE_DOCS=1 cargo test -p hapax-lang --test codes_doc`"
    );
}

#[test]
fn price_blocks_override_the_stdlib_table() {
    use hapax_lang::{check, load, MemFs, Mode};
    let mut fs = MemFs::default();
    let src = "price \"gpt-4o\" { input 3 USD per 1M; output 12000 USD per 1G }\nprice \"house-model\" { input 1 USD per 1M; context 32k }\n";
    fs.files.insert("/p/main.hapax".into(), src.into());
    let c = check(load(&["/p/main.hapax".into()], &fs).expect("loads"), &fs, Mode::Check);
    assert!(c.ok(), "{:?}", c.diags.0);
    let p = c.graph.price("gpt-4o").expect("priced");
    assert_eq!((p.input_per_mtok, p.output_per_mtok), (3.0, 12.0));
    assert!(p.context_window > 0, "context comes from the stdlib table");
    let h = c.graph.price("house-model").expect("priced");
    assert_eq!((h.input_per_mtok, h.context_window), (1.0, 32_000));
    assert!(c.graph.price("no-such-model").is_none());
}
