//! `hapax check`.

use super::{load, print_diagnostics, FAILED, OK};
use hapax_lang::Mode;
use std::path::PathBuf;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

pub fn run(paths: &[PathBuf], format: Format, deny_warnings: bool, serve: bool) -> u8 {
    let checked = match load(paths, if serve { Mode::Serve } else { Mode::Check }) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match format {
        Format::Json => {
            for d in &checked.diags.0 {
                println!("{}", hapax_lang::diag::to_json(d, &checked.sources));
            }
        }
        Format::Human => {
            print_diagnostics(&checked);
            let (e, w) = (checked.diags.errors(), checked.diags.warnings());
            let files = checked.sources.len();
            if e + w == 0 {
                eprintln!("checked {files} file{}: no problems", if files == 1 { "" } else { "s" });
            } else {
                eprintln!(
                    "checked {files} file{}: {e} error{}, {w} warning{}",
                    if files == 1 { "" } else { "s" },
                    if e == 1 { "" } else { "s" },
                    if w == 1 { "" } else { "s" }
                );
            }
        }
    }
    if checked.diags.has_errors() || (deny_warnings && checked.diags.warnings() > 0) {
        FAILED
    } else {
        OK
    }
}
