//! Replays the committed fuzz corpus (`tests/fuzz/corpus/<target>/`) through the invariant
//! checks of the fuzz targets, so that every input the fuzzer kept (and every crash it
//! found, minimised) stays checked under plain `cargo test`, without a fuzzer. The checks
//! are the fuzz crate's own (`tests/fuzz/checks/`), compiled here from the same files.

#[path = "fuzz/checks/lib.rs"]
mod checks;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Every file of one target's corpus through its check; the failures are listed by name.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|f| {
            let data = std::fs::read(f).expect("a corpus file");
            catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: {failed:#?}");
}

#[test]
fn headers_corpus_holds() {
    replay("headers", checks::headers::check);
}

#[test]
fn numbers_corpus_holds() {
    replay("numbers", checks::numbers::check);
}

#[test]
fn classify_corpus_holds() {
    replay("classify", checks::classify::check);
}

#[test]
fn sse_corpus_holds() {
    replay("sse", checks::sse::check);
}

#[test]
fn estimate_corpus_holds() {
    replay("estimate", checks::estimate::check);
}

#[test]
fn engine_corpus_holds() {
    replay("engine", checks::engine::check);
}

#[test]
fn hints_corpus_holds() {
    replay("hints", checks::hints::check);
}
