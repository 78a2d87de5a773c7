//! `hapax init`: writes a commented starter policy.

use super::{OK, USAGE};
use std::path::Path;

const STARTER: &str = include_str!("../../policies/quickstart.hapax");

pub fn run(dir: &Path) -> u8 {
    let path = dir.join("hapax.hapax");
    if path.exists() {
        eprintln!("error: `{}` already exists; not overwriting it", path.display());
        return USAGE;
    }
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, STARTER)) {
        eprintln!("error: cannot write `{}`: {e}", path.display());
        return USAGE;
    }
    println!("wrote {}\nnext: `hapax check {}` and `hapax serve {}`", path.display(), path.display(), path.display());
    OK
}
