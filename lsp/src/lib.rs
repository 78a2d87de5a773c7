//! The hapax language server (placeholder until the LSP issue lands).

/// Runs the server over stdio; returns the process exit status.
pub fn run() -> u8 {
    eprintln!("hapax lsp: not built yet");
    2
}
