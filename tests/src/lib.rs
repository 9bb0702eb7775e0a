//! Helpers for the end-to-end tests: where the real datasets are, and how to skip honestly.
//!
//! Tests that need `../shared/data` call [`data_dir`]. It reads `VIGIL_DATA` (or falls back to
//! `../shared/data` beside the checkout). Without data a test prints that it was skipped and
//! returns; under `CI=true` a missing data directory is a failure, so CI cannot pass by skipping.

use std::path::PathBuf;

/// The environment variable that points at the data directory.
pub const DATA_ENV: &str = "VIGIL_DATA";

/// The real-data directory, or `None` (after printing a skip notice) when it is absent.
///
/// Panics under `CI=true` when the data is missing: CI must run the data tests.
pub fn data_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(DATA_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
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
