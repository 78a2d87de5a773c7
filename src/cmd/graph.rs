//! `hapax graph`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format { Text, Dot, Json }
pub fn run(_p: &[std::path::PathBuf], _f: Format) -> u8 { 0 }
