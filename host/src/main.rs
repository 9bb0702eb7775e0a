//! `host`: the vigil trainer's command line.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use host::commands::Interrupted;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "vigil-host",
    version,
    about = "Train, evaluate and export the vigil emotion network"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the Table-1 network (layer shapes, parameters, ratio to Inception V3), or with
    /// --enhancer the face enhancer's parts.
    Arch(host::commands::arch::ArchArgs),
    /// Prepare datasets: 48x48 faces, cleaning, splits, noise balancing, cache + summary.
    Prepare(host::commands::prepare::PrepareArgs),
    /// Train the network (paper regime by default): checkpoints, metrics.csv, report and plots.
    Train(host::commands::train::TrainArgs),
    /// Evaluate a run's checkpoint: per-class accuracy, confusion matrices, report and plots.
    Eval(host::commands::eval::EvalArgs),
    /// Measure training and forward throughput (ms/image) on the current backend.
    BenchTrain(host::commands::bench_train::BenchTrainArgs),
    /// Train the FFA-style face enhancer on degraded faces and compare it with CLAHE.
    TrainEnhancer(host::commands::train_enhancer::TrainEnhancerArgs),
    /// An exported classifier's accuracy on clean and degraded faces, with or without a
    /// learned enhancer in front (the enhancer's ablation).
    Robustness(host::commands::robustness::RobustnessArgs),
    /// Which held-out faces of an exported classifier would set off each emotion alert at the
    /// policy's thresholds: hits and false alarms per true class.
    Alerts(host::commands::alerts::AlertsArgs),
    /// Export a run to int8 (and optionally fp32) ONNX with manifests, checking int8 vs fp32.
    Export(host::commands::export::ExportArgs),
}

fn main() -> ExitCode {
    host::train::resources::keep_freed_memory();
    host::train::resources::flush_denormals(true);
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<Interrupted>() {
            Some(stopped) => {
                eprintln!("{stopped}");
                ExitCode::from(Interrupted::EXIT_CODE)
            }
            None => {
                eprintln!("Error: {e:?}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Arch(args) => host::commands::arch::run(&args)?,
        Command::Prepare(args) => host::commands::prepare::run(&args)?,
        Command::Train(args) => host::commands::train::run(&args)?,
        Command::Eval(args) => host::commands::eval::run(&args)?,
        Command::BenchTrain(args) => host::commands::bench_train::run(&args)?,
        Command::Export(args) => host::commands::export::run(&args)?,
        Command::TrainEnhancer(args) => host::commands::train_enhancer::run(&args)?,
        Command::Robustness(args) => host::commands::robustness::run(&args)?,
        Command::Alerts(args) => host::commands::alerts::run(&args)?,
    }
    Ok(())
}
