//! Loading the policy set: the files named on the command line, or
//! `policies/quickstart.hapax`, or (when that file is not there) the copy of
//! the quickstart built into the binary. Checking is done in serve mode, so
//! an unset environment variable is an error.

use hapax_lang::{Checked, MemFs, Mode, RealFs};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

pub const QUICKSTART_PATH: &str = "policies/quickstart.hapax";
const QUICKSTART: &str = include_str!("../../../policies/quickstart.hapax");

/// Where the policy comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Files(Vec<PathBuf>),
    /// The quickstart built into the binary; nothing to watch.
    Embedded,
}

impl Source {
    pub fn from_args(paths: &[PathBuf]) -> Source {
        if !paths.is_empty() {
            Source::Files(paths.to_vec())
        } else if Path::new(QUICKSTART_PATH).is_file() {
            Source::Files(vec![PathBuf::from(QUICKSTART_PATH)])
        } else {
            Source::Embedded
        }
    }

    /// The folders named as roots: a new `.hapax` file in one of them is part
    /// of the set.
    pub fn root_dirs(&self) -> Vec<PathBuf> {
        match self {
            Source::Files(paths) => paths.iter().filter(|p| p.is_dir()).cloned().collect(),
            Source::Embedded => Vec::new(),
        }
    }
}

/// Loads and checks, refusing what serve does not enforce (see
/// [`crate::app::enforcement`]). `Err` is an I/O problem with a root path.
pub fn compile(source: &Source) -> Result<Checked, String> {
    let mut checked = load(source)?;
    hapax_lang::refuse(&mut checked, &crate::app::enforcement::refused(), Mode::Serve);
    Ok(checked)
}

fn load(source: &Source) -> Result<Checked, String> {
    match source {
        Source::Files(paths) => hapax_lang::check_paths(paths, &RealFs, Mode::Serve).map_err(|e| e.to_string()),
        Source::Embedded => {
            let path = PathBuf::from("quickstart.hapax");
            let fs = MemFs {
                files: HashMap::from([(path.clone(), QUICKSTART.to_string())]),
                env: std::env::vars().collect(),
            };
            hapax_lang::check_paths(&[path], &fs, Mode::Serve).map_err(|e| e.to_string())
        }
    }
}

/// Every diagnostic, rendered as `hapax check` renders them.
pub fn render(checked: &Checked, color: bool) -> String {
    checked.diags.0.iter().map(|d| hapax_lang::diag::render(d, &checked.sources, color)).collect()
}

/// Prints every diagnostic to stderr, as `hapax check` does.
pub fn print_diagnostics(checked: &Checked) {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    eprint!("{}", render(checked, color));
}

/// The files of a loaded set, to watch.
pub fn files(checked: &Checked, source: &Source) -> Vec<PathBuf> {
    match source {
        Source::Embedded => Vec::new(),
        Source::Files(_) => checked.sources.iter().map(|(_, f)| f.path.clone()).collect(),
    }
}
