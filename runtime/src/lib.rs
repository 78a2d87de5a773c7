//! The hapax gateway data plane: `hapax serve`.
//!
//! It loads a checked policy into an immutable snapshot (the compiled
//! routing graph plus each provider's runtime), serves the OpenAI and
//! Anthropic APIs over HTTP/1.1, h2c and TLS, and runs every request through
//! the stages listed in [`pipeline`]: ingress, route matching, target choice
//! with retries, fallbacks, circuit breakers and health checks, format
//! translation, streaming, accounting. Policy edits are picked up without a
//! restart; state of unchanged providers survives them.

// The folders, from the top down: each imports only from folders below it
// (see docs/architecture.md; `tests::folders_import_downward_only`).
mod app;
#[doc(hidden)]
pub mod fuzz;
mod http;
mod net;
pub mod pipeline;
mod state;
mod telemetry;
mod upstream;
pub mod wire;

pub use app::enforcement;
pub use state::keys;
pub use state::limiter;
pub use telemetry::audit::chain as audit_chain;

/// Runs `hapax serve` over the given policy files or folders (the
/// quickstart when none); returns the process exit status.
pub fn serve(paths: &[std::path::PathBuf]) -> u8 {
    app::serve::run(paths)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The folders from the bottom up: a folder may import from those
    /// before it in this list, never from those after it.
    const LAYERS: &[&str] = &["wire", "http", "net", "telemetry", "upstream", "state", "pipeline", "app"];

    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// Every `crate::FOLDER` a file names that is above its own folder.
    fn upward(src: &Path) -> Vec<String> {
        let mut bad = Vec::new();
        for (rank, folder) in LAYERS.iter().enumerate() {
            let mut files = Vec::new();
            sources(&src.join(folder), &mut files);
            for f in files {
                let text = std::fs::read_to_string(&f).expect("readable source");
                for (i, line) in text.lines().enumerate() {
                    for above in &LAYERS[rank + 1..] {
                        if line.contains(&format!("crate::{above}::")) || line.contains(&format!("crate::{above};")) {
                            bad.push(format!("{}:{}: {folder} imports {above}", f.display(), i + 1));
                        }
                    }
                }
            }
        }
        bad
    }

    #[test]
    fn folders_import_downward_only() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let bad = upward(&src);
        assert!(bad.is_empty(), "imports against the layering (see docs/architecture.md):\n{}", bad.join("\n"));
        // Every folder of the source tree is in the list.
        for e in std::fs::read_dir(&src).expect("src").flatten() {
            if e.path().is_dir() {
                let name = e.file_name().to_string_lossy().into_owned();
                assert!(LAYERS.contains(&name.as_str()), "folder `{name}` has no place in LAYERS");
            }
        }
    }

    #[test]
    fn the_layering_check_sees_an_upward_import() {
        let dir = std::env::temp_dir().join(format!("hapax-layers-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("http")).expect("temp");
        std::fs::write(dir.join("http/x.rs"), "use crate::pipeline::Ctx;\nuse crate::wire::Api;\n").expect("write");
        let bad = upward(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].ends_with("x.rs:1: http imports pipeline"), "{bad:?}");
    }
}
