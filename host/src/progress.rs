//! The one progress-bar style of every long step (preparing data, training epochs): a bar on
//! the terminal, nothing when stderr is not one (indicatif hides itself), so logs of
//! background runs stay readable.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps named `prefix`: position, rate and time left.
pub fn bar(len: u64, prefix: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} {elapsed_precise} eta {eta} {msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(prefix.into());
    bar
}
