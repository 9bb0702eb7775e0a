//! `host eval --run <dir>`: reload a run's checkpoint and its splits (same data, protocol
//! and seed, from the checkpoint) and rewrite the report, CSVs and plots.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use shared::arch::Architecture;

use crate::commands::train::load_data;
use crate::data::SplitName;
use crate::eval;
use crate::export::Views;
use crate::train::checkpoint;
use crate::train::{BackendKind, device_for};

/// Which checkpoint of the run to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WhichCheckpoint {
    /// Best validation epoch.
    Best,
    /// Last completed epoch.
    Last,
}

/// Options of `host eval`.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// Run directory written by `host train --out`.
    #[arg(long)]
    pub run: PathBuf,
    /// Checkpoint to evaluate.
    #[arg(long, value_enum, default_value_t = WhichCheckpoint::Best)]
    pub checkpoint: WhichCheckpoint,
    /// Data directory, if it moved since training (default: the one the run used).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Backend to evaluate on.
    #[arg(long, value_enum, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// Evaluate on the run's complete prepared-cache files alone, without listing the datasets
    /// to check that the cache matches them (as `host train --cache-only`).
    #[arg(long)]
    pub cache_only: bool,
    /// Average the logits of each face and its mirror image (`mirrored`), as a model exported
    /// with `host export --views mirrored` does; the report says which.
    #[arg(long, value_enum, default_value_t = Views::Single)]
    pub views: Views,
}

/// Runs `host eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    let arch = Architecture::paper(shared::NUM_CLASSES);
    let dir = match args.checkpoint {
        WhichCheckpoint::Best => checkpoint::best_dir(&args.run),
        WhichCheckpoint::Last => checkpoint::last_dir(&args.run),
    };
    let state =
        checkpoint::load_state(&dir, Some(&arch)).with_context(|| format!("evaluating run {}", args.run.display()))?;
    let device = device_for(args.backend)?;
    let model = checkpoint::load_model(&dir, &state, &device)?;
    // The last checkpoint has the full history even when the best one is older.
    let last = checkpoint::load_state(&checkpoint::last_dir(&args.run), Some(&arch)).unwrap_or_else(|_| state.clone());
    let history = last.history;
    let average = last.average.map(|a| a.history).unwrap_or_default();
    let mut config = state.config.clone();
    config.out_dir = args.run.clone();
    if let Some(data) = &args.data {
        config.data.data_root = data.clone();
    }
    let data = load_data(&config, &arch, !args.cache_only)?;
    let results = eval::evaluate_parts(
        &model,
        &[(SplitName::Test, &data.test), (SplitName::Val, &data.val)],
        args.views,
    )?;
    let note = format!(
        "evaluated the {:?} checkpoint (epoch {}) with `host eval`, scores from {}",
        args.checkpoint,
        state.epochs_done,
        args.views.describe()
    );
    eval::write_run_report(
        &args.run,
        &config,
        &history,
        &average,
        state.best,
        results.clone(),
        vec![note],
    )?;
    for r in &results {
        println!(
            "{} {}: accuracy {:.2}%, mean per-class {:.2}% ({} images)",
            r.split,
            r.dataset_name(),
            100.0 * r.confusion.accuracy().unwrap_or(0.0),
            100.0 * r.confusion.mean_class_accuracy().unwrap_or(0.0),
            r.confusion.total()
        );
    }
    println!("report: {}", args.run.join("report.md").display());
    Ok(())
}
