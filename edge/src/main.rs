//! `edge`: the vigil in-car runtime's command line.

use anyhow::Result;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "vigil-edge",
    version,
    about = "Driver-monitoring runtime: detect faces, classify emotions, raise alerts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the network the runtime expects (input shape and classes).
    Info,
    /// The driver-monitoring alert loop on a camera, a replayed directory or raw stdin frames.
    Run(edge::commands::run::RunArgs),
    /// Find faces in still images with a Haar cascade; one JSON line per image.
    Detect(edge::commands::detect::DetectArgs),
    /// Classify the face in still images (the shipped model unless --model): one JSON line per image.
    Classify(edge::commands::classify::ClassifyArgs),
    /// Drive the buzzer and LED pins low (the unit's ExecStopPost, after any stop or crash).
    SafeState(edge::commands::safe_state::SafeStateArgs),
}

fn main() -> Result<()> {
    // Logs go to stderr (the journal on the board) from a thread of their own: a stalled
    // reader there costs log lines, never the alert loop's turns. `_flush` writes what is
    // queued when main returns.
    let (stderr, _flush) = tracing_appender::non_blocking(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(stderr)
        .init();
    match Cli::parse().command {
        Command::Info => {
            let labels: Vec<&str> = shared::Emotion::ALL.iter().map(|e| e.name()).collect();
            println!(
                "input: 1x{0}x{0} grey; classes: {1}",
                shared::INPUT_SIZE,
                labels.join(", ")
            );
        }
        Command::Detect(args) => edge::commands::detect::run(&args)?,
        Command::Classify(args) => edge::commands::classify::run(&args)?,
        Command::Run(args) => edge::commands::run::run(args)?,
        Command::SafeState(args) => edge::commands::safe_state::run(&args)?,
    }
    Ok(())
}
