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
