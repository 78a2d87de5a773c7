//! The fuzz targets' inputs, replayed through the same invariant checks
//! (`crate::fuzz`): every crash a target found, kept under
//! `fuzz/regressions/<target>/`, and the seeds under `fuzz/seeds/<target>/`.

use crate::fuzz;
use std::path::{Path, PathBuf};

/// A target: its input checked against its invariants.
type Target = fn(&[u8]);

/// The four targets, by the name of their folders.
const TARGETS: [(&str, Target); 4] = [
    ("http1_request", fuzz::http1_request),
    ("http1_response", fuzz::http1_response),
    ("sse", fuzz::sse),
    ("scan", fuzz::scan),
];

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// Runs every file under `fuzz/<folder>/<target>/` through its target;
/// how many there were.
fn replay(folder: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz").join(folder);
    let mut n = 0;
    for (target, run) in TARGETS {
        for file in files(&root.join(target)) {
            let data = std::fs::read(&file).expect("readable input");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{} fails its target's checks", file.display());
            n += 1;
        }
    }
    n
}

#[test]
fn the_seeds_pass_the_targets_checks() {
    assert!(replay("seeds") >= 4 * 4, "the seeds are missing");
}

#[test]
fn every_kept_crash_passes_the_targets_checks() {
    replay("regressions");
}

/// Found by `http1_request`: `GET @/ HTTP/1.1` (the start of this input).
/// httparse takes `@/` as a target and `http::Uri` does not, so the head is
/// refused with "invalid target", after `parse_head` has split it off the
/// buffer: the one refusal that consumes bytes (harmless while every refusal
/// closes the connection).
#[test]
fn an_invalid_target_is_refused() {
    let data = include_bytes!("../../../../fuzz/regressions/http1_request/refused-target-consumes-head");
    fuzz::http1_request(data);
    let mut buf = bytes::BytesMut::from(&data[..]);
    let (status, why) = super::server::parse_head(&mut buf).unwrap_err();
    assert_eq!((status.as_u16(), why), (400, "invalid target"));
}
