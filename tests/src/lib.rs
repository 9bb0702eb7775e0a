//! Helpers for the end-to-end tests: where the real datasets are, and how to skip honestly
//! ([`artifacts::data`]: without data a test prints that it was skipped and returns; under
//! `CI=true` a missing data directory is a failure, so CI cannot pass by skipping).

pub use artifacts::data::DATA_ENV;

/// The real-data directory, or `None` (after printing a skip notice) when it is absent;
/// panics under `CI=true` when the data is missing.
pub fn data_dir(test: &str) -> Option<std::path::PathBuf> {
    artifacts::data::for_test(test)
}
