//! One module per `host` subcommand.

pub mod arch;
pub mod bench_layers;
pub mod bench_train;
pub mod eval;
pub mod export;
pub mod prepare;
pub mod robustness;
pub mod train;
pub mod train_enhancer;

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
