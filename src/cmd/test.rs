pub fn run(_p: &[std::path::PathBuf]) -> u8 { 0 }
