//! `hapax test`.

use super::{load, print_diagnostics, FAILED, OK};
use hapax_lang::Mode;
use std::path::PathBuf;

pub fn run(paths: &[PathBuf]) -> u8 {
    let checked = match load(paths, Mode::Check) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !checked.ok() {
        print_diagnostics(&checked);
        eprintln!("the policy has errors; no test was run");
        return FAILED;
    }
    let outcomes = hapax_lang::testing::run(&checked.graph);
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for o in &outcomes {
        let file = checked.sources.get(o.loc.file);
        let (line, _) = file.human_line_col(o.loc.span.start as usize);
        if o.passed() {
            passed += 1;
            println!("ok      {} ({}:{line})", o.name, file.path.display());
        } else {
            failed += 1;
            println!("FAILED  {} ({}:{line})", o.name, file.path.display());
            for f in &o.failures {
                println!("        {f}");
            }
        }
        for s in &o.skipped {
            skipped += 1;
            println!("        skipped: {s}");
        }
    }
    println!(
        "\n{passed} passed, {failed} failed{}",
        if skipped > 0 { format!(", {skipped} skipped") } else { String::new() }
    );
    if failed > 0 {
        FAILED
    } else {
        OK
    }
}
