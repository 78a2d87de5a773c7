//! The hapax language server: `hapax lsp` speaks the Language Server
//! Protocol 3.17 over stdio and gives editors the same front end as
//! `hapax check`.
//!
//! Open buffers overlay the disk; each open document's import set is
//! re-checked (debounced) when any file in it changes, and the diagnostics
//! of every file in every set are published. On top of the checked sets the
//! server answers completion, hover, go to definition, references, rename,
//! document and workspace symbols, folding ranges, formatting, semantic
//! tokens and quick fixes. This crate is the only one that knows LSP types
//! and JSON-RPC; it converts the compiler's byte offsets to UTF-16
//! positions at that edge ([`position`]). The loop is synchronous: one
//! message at a time, every request answered, a panic in a handler turned
//! into an error response.

pub mod completion;
pub mod diagnostics;
pub mod hover;
pub mod nav;
pub mod position;
pub mod server;
pub mod syntax;
pub mod tokens;
pub mod world;

use lsp_server::Connection;

/// Serves one client over `conn` until it exits; returns the process exit
/// status (0 after `shutdown` then `exit`, 1 otherwise, as LSP specifies).
/// `refused` lists what `hapax serve` refuses, reported as warnings (the
/// runtime owns that list; the binary hands it over).
pub fn serve(conn: Connection, refused: Vec<hapax_lang::Refused>) -> u8 {
    let (id, params) = match conn.initialize_start() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("hapax lsp: {e}");
            return 1;
        }
    };
    let params: lsp_types::InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let (config, roots) = server::config_from(&params);
    let result = serde_json::json!({
        "capabilities": server::capabilities(),
        "serverInfo": { "name": "hapax", "version": env!("CARGO_PKG_VERSION") },
    });
    if let Err(e) = conn.initialize_finish(id, result) {
        eprintln!("hapax lsp: {e}");
        return 1;
    }
    let clean = server::Server::new(conn, config, roots, refused).run();
    u8::from(!clean)
}

/// Runs the server over stdio; returns the process exit status.
pub fn run(refused: Vec<hapax_lang::Refused>) -> u8 {
    let (conn, io_threads) = Connection::stdio();
    let status = serve(conn, refused);
    // The reader thread ends at `exit` or end of input; a broken pipe there
    // is the client's doing and does not change the status.
    if let Err(e) = io_threads.join() {
        eprintln!("hapax lsp: {e}");
    }
    status
}
