//! `hapax audit verify FILE…`: checks the hash chain of audit files.

use super::{FAILED, OK, USAGE};
use hapax_runtime::audit_chain as chain;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Audit {
    /// Verify the hash chain of audit files, given oldest first (rotated
    /// files, then the active one): exit 0 when intact, 1 naming the first
    /// bad line.
    Verify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn run(cmd: Audit) -> u8 {
    match cmd {
        Audit::Verify { files } => {
            let paths: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
            match chain::verify(&paths) {
                Ok(intact) => {
                    let start = if intact.from_genesis {
                        "from the start of the log"
                    } else {
                        "continuing a file not given (rotated away, or not named)"
                    };
                    println!("ok: {} events, chain intact, {start}", intact.lines);
                    OK
                }
                Err(b) if b.line == 0 => {
                    eprintln!("error: {}: {}", b.file, b.why);
                    USAGE
                }
                Err(b) => {
                    println!("{}:{}: {}", b.file, b.line, b.why);
                    println!("first bad line: {}", b.line);
                    FAILED
                }
            }
        }
    }
}
