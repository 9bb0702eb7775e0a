//! Where the research datasets are: `$VIGIL_DATA`, else `../shared/data` beside the
//! checkout. Commands default to it; tests and benches use [`for_test`], which skips
//! honestly: without data a test says it was skipped, and under `CI=true` it fails instead,
//! so CI cannot pass by skipping.

use std::path::PathBuf;

/// The environment variable that points at the data directory.
pub const DATA_ENV: &str = "VIGIL_DATA";

/// `$VIGIL_DATA`, else `../shared/data` beside the checkout this crate was built from.
pub fn default_dir() -> PathBuf {
    std::env::var_os(DATA_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

/// The data directory for a test or bench named `test`, or `None` (after printing a skip
/// notice) when it is absent.
///
/// Panics under `CI=true` when the data is missing: CI must run the data tests.
pub fn for_test(test: &str) -> Option<PathBuf> {
    let dir = default_dir();
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: data directory {} is missing and CI=true; set {DATA_ENV}",
            dir.display()
        );
    }
    eprintln!("SKIPPED {test}: no data at {} (set {DATA_ENV})", dir.display());
    None
}
