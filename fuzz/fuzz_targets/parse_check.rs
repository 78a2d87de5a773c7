//! Parser + loader/checker + formatter must never panic; the formatter's
//! output must parse cleanly, be a fixed point and keep every `#` comment.
#![no_main]

use hapax_lang::span::FileId;
use hapax_lang::{check, fmt, load, syntax, MemFs, Mode};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    // 1. Parse: must not panic.
    let (ast, _diags) = syntax::parse(FileId(0), text);
    let comments_in = ast.comments.len();

    // 2. Load + check through an in-memory file system: must not panic.
    let mut vfs = MemFs::default();
    vfs.files.insert(PathBuf::from("/p/main.hapax"), text.to_string());
    if let Ok(loaded) = load(&[PathBuf::from("/p/main.hapax")], &vfs) {
        let _ = check(loaded, &vfs, Mode::Check);
    }

    // 3. Format: output parses cleanly, is idempotent, keeps comments.
    if let Ok(out) = fmt::format(text) {
        let (ast2, errs) = syntax::parse(FileId(0), &out);
        assert!(
            errs.is_empty(),
            "formatted output does not parse: {:?}\n--- input ---\n{text}\n--- output ---\n{out}",
            errs.iter().map(|d| d.message.clone()).collect::<Vec<_>>()
        );
        assert_eq!(
            comments_in,
            ast2.comments.len(),
            "formatter changed the number of comments\n--- input ---\n{text}\n--- output ---\n{out}"
        );
        let again = fmt::format(&out).expect("formatted output re-formats");
        assert!(
            again == out,
            "formatter is not idempotent\n--- input ---\n{text}\n--- once ---\n{out}\n--- twice ---\n{again}"
        );
    }
});
