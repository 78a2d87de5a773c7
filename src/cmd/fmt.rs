//! `hapax fmt`.

use super::{FAILED, OK, USAGE};
use hapax_lang::{RealFs, Vfs};
use std::path::PathBuf;

pub fn run(paths: &[PathBuf], check: bool) -> u8 {
    let mut files = Vec::new();
    for p in paths {
        match RealFs.list_dir(p) {
            Some(list) => files.extend(list),
            None => files.push(p.clone()),
        }
    }
    let mut status = OK;
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", f.display());
                return USAGE;
            }
        };
        match hapax_lang::fmt::format(&text) {
            Ok(out) if out == text => {}
            Ok(out) => {
                if check {
                    eprintln!("{} is not formatted", f.display());
                    status = FAILED;
                } else if let Err(e) = std::fs::write(&f, out) {
                    eprintln!("error: cannot write `{}`: {e}", f.display());
                    return USAGE;
                }
            }
            Err(diags) => {
                let mut sources = hapax_lang::span::SourceMap::default();
                let id = sources.add(f.clone(), text);
                for mut d in diags {
                    d.loc.file = id;
                    eprint!("{}", hapax_lang::diag::render(&d, &sources, false));
                }
                eprintln!("{} has syntax errors; it was not formatted", f.display());
                status = FAILED;
            }
        }
    }
    status
}
