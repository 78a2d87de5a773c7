//! The hapax gateway data plane (being built).


/// Runs `hapax serve`; returns the process exit status.
pub fn serve(_paths: &[std::path::PathBuf]) -> u8 {
    eprintln!("hapax serve: not built yet");
    2
}
