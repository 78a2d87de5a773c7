//! One module per subcommand.

pub mod audit;
pub mod check;
pub mod explain;
pub mod fmt;
pub mod graph;
pub mod init;
pub mod keys;
pub mod limits;
pub mod test;

use hapax_lang::{Checked, Mode, RealFs};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Exit status: success.
pub const OK: u8 = 0;
/// Exit status: the policy has errors (or a test failed).
pub const FAILED: u8 = 1;
/// Exit status: usage or I/O error.
pub const USAGE: u8 = 2;

/// Loads and checks, with what `serve` refuses as warnings (or, in serve
/// mode, errors); prints an I/O error and returns `Err(USAGE)`.
pub fn load(paths: &[PathBuf], mode: Mode) -> Result<Checked, u8> {
    let mut checked = hapax_lang::check_paths(paths, &RealFs, mode).map_err(|e| {
        eprintln!("error: {e}");
        USAGE
    })?;
    hapax_lang::refuse(&mut checked, &hapax_runtime::enforcement::refused(), mode);
    Ok(checked)
}

/// Prints diagnostics for people, to stderr.
pub fn print_diagnostics(checked: &Checked) {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for d in &checked.diags.0 {
        eprint!("{}", hapax_lang::diag::render(d, &checked.sources, color));
    }
}
