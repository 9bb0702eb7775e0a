//! One module per `host` subcommand.

pub mod alerts;
pub mod arch;
pub mod bench_layers;
pub mod bench_train;
pub mod eval;
pub mod export;
pub mod held_out;
pub mod prepare;
pub mod robustness;
pub mod train;
pub mod train_enhancer;

/// Makes way for a new run in `out`: a directory holding a previous `what`'s checkpoints is
/// refused (such a run is continued with `--resume`), unless `force` removes them.
pub(crate) fn make_way_for_new_run(out: &std::path::Path, what: &str, force: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    let dirs = [
        crate::train::checkpoint::last_dir(out),
        crate::train::checkpoint::best_dir(out),
    ];
    if !dirs.iter().any(|d| d.exists()) {
        return Ok(());
    }
    if !force {
        anyhow::bail!(
            "{} holds a previous {what}'s checkpoints: continue it with --resume, or replace it with --force",
            out.display()
        );
    }
    tracing::warn!("--force: replacing the previous run in {}", out.display());
    for dir in dirs.iter().filter(|d| d.exists()) {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// A long command stopped by a signal after saving where it stood. `vigil-host` prints it and
/// exits with [`Interrupted::EXIT_CODE`] rather than 0, so that a script's `train && export`
/// does not go on with an unfinished run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

impl Interrupted {
    /// 128 + SIGINT, the shell's code for a command stopped by Ctrl-C.
    pub const EXIT_CODE: u8 = 130;
}
