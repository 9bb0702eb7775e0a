//! `host bench-train`: training throughput (images/s, ms/image) at a batch size on the current
//! backend, and forward-only (inference) ms/image, on seeded synthetic images.
//!
//! Synthetic inputs are enough here: the cost of a step does not depend on pixel values, and
//! the benchmark then runs without any dataset. The weights and optimiser state can matter
//! (subnormal Adam moments, [`flush_denormals`]): `--from RUN` starts from a trained run's
//! last checkpoint instead of a fresh initialisation, and `--keep-denormals` measures without
//! the flush the commands run with.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shared::arch::Architecture;

use crate::model::batch_to_tensor;
use crate::train::checkpoint;
use crate::train::config::PAPER_BATCH_SIZE;
use crate::train::resources::flush_denormals;
use crate::train::{BackendKind, ImageSet, TrainConfig, Trainer};

/// Options of `host bench-train`.
#[derive(Debug, Clone, Args)]
pub struct BenchTrainArgs {
    /// Images per training step.
    #[arg(long, default_value_t = PAPER_BATCH_SIZE)]
    pub batch_size: usize,
    /// Timed training steps (after one warm-up step).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// Also time every convolution and max pool on its own (forward, weight gradient, input
    /// gradient; and each pool's inference forward) at the same batch size, the least of
    /// `--steps` calls of each: where the step's time goes (flex backend).
    #[arg(long)]
    pub per_layer: bool,
    /// Start from this run's last checkpoint (weights and optimiser state, its optimiser
    /// settings) instead of a fresh seeded initialisation. Of a run still training, copy
    /// `checkpoints/last` into a folder of its own first: the trainer replaces it while it runs.
    #[arg(long, value_name = "RUN")]
    pub from: Option<PathBuf>,
    /// Keep IEEE gradual underflow (subnormal floats) instead of flushing them to zero as
    /// every command does: the flush's effect, measured.
    #[arg(long)]
    pub keep_denormals: bool,
}

/// Measured throughput.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchResult {
    /// Training: milliseconds per image (forward + backward + Adam update).
    pub train_ms_per_image: f64,
    /// Training images per second.
    pub train_images_per_s: f64,
    /// Inference: milliseconds per image (forward only, inference mode, same batch size).
    pub forward_ms_per_image: f64,
}

/// Measures training and forward throughput, from a fresh model or from run `from`'s last
/// checkpoint.
pub fn measure(
    arch: &Architecture,
    batch_size: usize,
    steps: usize,
    backend: BackendKind,
    from: Option<&Path>,
) -> Result<BenchResult> {
    let out_dir = std::env::temp_dir().join("vigil-bench-train");
    let (config, resume) = match from {
        None => {
            let config = TrainConfig {
                batch_size,
                backend,
                out_dir,
                ..TrainConfig::default()
            };
            (config, None)
        }
        Some(run) => {
            let dir = checkpoint::last_dir(run);
            let state = checkpoint::load_state(&dir, Some(arch))
                .with_context(|| format!("reading the checkpoint of {}", run.display()))?;
            let config = TrainConfig {
                batch_size,
                backend,
                out_dir,
                ..state.config
            };
            (config, Some(dir))
        }
    };
    let mut trainer = Trainer::new(config, arch, resume.as_deref(), &ImageSet::default())?;
    let per_image = arch.input.len();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let inputs: Vec<f32> = (0..batch_size * per_image).map(|_| rng.random::<f32>()).collect();
    let labels: Vec<i64> = (0..batch_size)
        .map(|_| rng.random_range(0..shared::NUM_CLASSES as i64))
        .collect();
    trainer.step(&inputs, &labels, 1e-3)?; // warm-up: allocations, lazy initialisation
    let started = Instant::now();
    for _ in 0..steps.max(1) {
        trainer.step(&inputs, &labels, 1e-3)?;
    }
    let train_secs = started.elapsed().as_secs_f64();
    let images = (steps.max(1) * batch_size) as f64;

    // Inference as evaluation runs it: BatchNorm folded into the convolutions (Keras' graph
    // optimiser folds it the same way in the peer's `tf.function`).
    let model = trainer.model.folded();
    let device = model.device();
    let forward = || -> Result<()> {
        let x = batch_to_tensor(arch, &inputs, batch_size, &device)?;
        let logits: Vec<f32> = model.forward(x).into_data().iter::<f32>().collect();
        anyhow::ensure!(logits.len() == batch_size * shared::NUM_CLASSES, "unexpected logits");
        Ok(())
    };
    forward()?;
    let started = Instant::now();
    for _ in 0..steps.max(1) {
        forward()?;
    }
    let forward_secs = started.elapsed().as_secs_f64();
    Ok(BenchResult {
        train_ms_per_image: 1000.0 * train_secs / images,
        train_images_per_s: images / train_secs,
        forward_ms_per_image: 1000.0 * forward_secs / images,
    })
}

/// Runs `host bench-train`.
pub fn run(args: &BenchTrainArgs) -> Result<()> {
    let arch = Architecture::paper(shared::NUM_CLASSES);
    if args.keep_denormals {
        flush_denormals(false);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rayon = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset (all cores)".into());
    let from = args
        .from
        .as_ref()
        .map_or_else(|| "a fresh model".to_string(), |run| run.display().to_string());
    let subnormals = if args.keep_denormals { "kept" } else { "flushed" };
    println!(
        "backend {}, batch {}, {} timed steps, {threads} cores, RAYON_NUM_THREADS {rayon}, from {from}, subnormals {subnormals}",
        args.backend.name(),
        args.batch_size,
        args.steps
    );
    let r = measure(&arch, args.batch_size, args.steps, args.backend, args.from.as_deref())?;
    println!("| measure | value |\n|---|---|");
    println!("| training ms/image | {:.2} |", r.train_ms_per_image);
    println!("| training images/s | {:.1} |", r.train_images_per_s);
    println!("| forward ms/image (inference) | {:.2} |", r.forward_ms_per_image);
    if args.per_layer {
        let step_ms = r.train_ms_per_image * args.batch_size as f64;
        super::bench_layers::print_profile(&arch, args.batch_size, args.steps, step_ms)?;
    }
    Ok(())
}
