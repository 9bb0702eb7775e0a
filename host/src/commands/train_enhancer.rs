//! `host train-enhancer`: trains the FFA-style face enhancer on degraded copies of the clean
//! (unenhanced) training faces, then compares it with CLAHE and with no enhancement on the
//! held-out validation and test faces: `report.md`, `samples.png`, curves.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use shared::enhancer::FfaSpec;
use shared::preprocess::{Enhancement, Preprocessing};

use crate::data::{self, BalanceConfig, DataSelection, DatasetKind, PrepareConfig, SplitProtocol};
use crate::enhance::eval::{self, EvalSet};
use crate::enhance::train::{self, EnhancerConfig};

/// Options of `host train-enhancer`.
#[derive(Debug, Clone, Args)]
pub struct TrainEnhancerArgs {
    /// Directory with the datasets (default: $VIGIL_DATA, else ../shared/data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Datasets whose clean faces are degraded and restored.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![DatasetKind::FerPlus, DatasetKind::CkPlus, DatasetKind::Jaffe])]
    pub dataset: Vec<DatasetKind>,
    /// Split protocol (its train part trains, val picks the checkpoint, test is reported).
    #[arg(long, value_enum, default_value_t = SplitProtocol::Subject)]
    pub protocol: SplitProtocol,
    /// Prepared-data cache (faces without enhancement; made here when missing).
    #[arg(long, default_value = "prepared-clean")]
    pub cache: PathBuf,
    /// Trust complete cache files without listing the dataset directories.
    #[arg(long)]
    pub cache_only: bool,
    /// Feature maps inside the network.
    #[arg(long, default_value_t = FfaSpec::default().channels)]
    pub channels: usize,
    /// Groups of FA blocks.
    #[arg(long, default_value_t = FfaSpec::default().groups)]
    pub groups: usize,
    /// FA blocks per group.
    #[arg(long, default_value_t = FfaSpec::default().blocks)]
    pub blocks: usize,
    /// Epochs.
    #[arg(long, default_value_t = EnhancerConfig::default().epochs)]
    pub epochs: usize,
    /// Faces per step.
    #[arg(long, default_value_t = EnhancerConfig::default().batch_size)]
    pub batch_size: usize,
    /// Peak learning rate (Adam, cosine to 0).
    #[arg(long, default_value_t = EnhancerConfig::default().lr)]
    pub lr: f64,
    /// Seed of the split, initialisation, order and degradations.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Use at most this many training faces (0: all).
    #[arg(long, default_value_t = 0)]
    pub max_train: usize,
    /// Validate on at most this many faces each epoch (0: all; the final report uses all).
    #[arg(long, default_value_t = EnhancerConfig::default().max_val)]
    pub max_val: usize,
    /// Run directory (checkpoints, metrics, report).
    #[arg(long, default_value = "runs/enhancer")]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Replace a previous run in --out (without it, a run directory with checkpoints is
    /// refused).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
}

impl TrainEnhancerArgs {
    /// The clean faces' data, split with `seed` (the run's: a resumed run's is its checkpoint's).
    fn prepare_config(&self, seed: u64) -> PrepareConfig {
        let defaults = PrepareConfig::default();
        PrepareConfig {
            data: DataSelection {
                data_root: self.data.clone().unwrap_or(defaults.data.data_root.clone()),
                datasets: self.dataset.clone(),
                protocol: self.protocol,
                cache_dir: self.cache.clone(),
                seed,
                preprocessing: Preprocessing {
                    enhancement: Enhancement::None,
                    ..Preprocessing::default()
                },
                balance: BalanceConfig::off(),
                enhancer: None,
            },
            verify_sources: !self.cache_only,
            ..defaults
        }
    }

    fn config(&self) -> EnhancerConfig {
        EnhancerConfig {
            spec: FfaSpec {
                channels: self.channels,
                groups: self.groups,
                blocks: self.blocks,
                ..FfaSpec::default()
            },
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            seed: self.seed,
            max_train: self.max_train,
            max_val: self.max_val,
        }
    }
}

/// The settings a run in `out` trains with: a resumed run keeps its checkpoint's (all but the
/// epochs), since its validation faces and their degradations follow from them; a new run
/// refuses a directory holding another run's checkpoints unless `force` replaces it.
fn run_config(args: &TrainEnhancerArgs) -> Result<EnhancerConfig> {
    let asked = args.config();
    if args.resume {
        let last = crate::train::checkpoint::last_dir(&args.out);
        let state =
            train::load_state(&last).with_context(|| format!("--resume: cannot resume from {}", last.display()))?;
        let kept = EnhancerConfig {
            epochs: asked.epochs,
            ..state.config
        };
        if kept != asked {
            tracing::warn!(
                "--resume trains with the checkpoint's settings (all but --epochs): {kept:?}; the options given that differ from them are ignored"
            );
        }
        return Ok(kept);
    }
    super::make_way_for_new_run(&args.out, "enhancer run", args.force)?;
    Ok(asked)
}

/// Runs `host train-enhancer`.
pub fn run(args: &TrainEnhancerArgs) -> Result<()> {
    let config = run_config(args)?;
    let splits = data::load_splits(&args.prepare_config(config.seed)).context("loading the clean faces")?;
    let faces = |part: &[data::Sample]| part.iter().map(|s| s.pixels.clone()).collect::<Vec<_>>();
    let (train_faces, val, test) = (
        faces(&splits.train),
        EvalSet::new(&faces(&splits.val), config.seed),
        EvalSet::new(&faces(&splits.test), config.seed),
    );
    tracing::info!(
        "enhancer {:?}: {} parameters, {:.1} M multiply-adds per face; {} training faces, {} validation, {} test",
        config.spec,
        config.spec.num_params(),
        config.spec.macs(shared::INPUT_SIZE, shared::INPUT_SIZE) as f64 / 1e6,
        train_faces.len(),
        val.clean.len(),
        test.clean.len()
    );
    let stop = super::train::install_stop_handler();
    let val_each_epoch = val.truncated(config.max_val);
    let state = train::fit(&config, &train_faces, &val_each_epoch, &args.out, args.resume, &stop)?;
    if state.epochs_done < state.config.epochs {
        return Err(super::Interrupted(format!(
            "stopped after {} of {} epochs; continue with the same command and --resume",
            state.epochs_done, state.config.epochs
        ))
        .into());
    }
    let best = crate::train::checkpoint::best_dir(&args.out);
    let best_state = train::load_state(&best)?;
    let device = burn::tensor::Device::flex();
    let net = train::load_net(&best, &best_state, &device)?;
    let epoch = best_state.best_epoch.unwrap_or(best_state.epochs_done);
    // The run as it was trained (a resumed run keeps its first settings).
    let config = &state.config;
    let mut report = format!(
        "# Enhancer run `{}`\n\n{:?}: {} parameters, {:.1} M multiply-adds per 48x48 face. {} epochs, batch {}, Adam lr {} cosine, seed {}; checkpoint of epoch {epoch} (best validation PSNR on {} faces).\n\nFaces: {} ({:?} protocol), no enhancement, degraded by `host::enhance::degrade` (one or two kinds each; validation and test faces once, with a fixed draw). PSNR (dB, identical faces count 100) and SSIM against the clean face; \"CLAHE vs CLAHE(clean)\" compares in CLAHE's own domain.\n\n",
        args.out.display(),
        config.spec,
        config.spec.num_params(),
        config.spec.macs(shared::INPUT_SIZE, shared::INPUT_SIZE) as f64 / 1e6,
        state.config.epochs,
        config.batch_size,
        config.lr,
        config.seed,
        val_each_epoch.clean.len(),
        args.dataset.iter().map(|d| d.name()).collect::<Vec<_>>().join(", "),
        args.protocol,
    );
    for (name, set) in [("Validation", &val), ("Test", &test)] {
        let rows = eval::compare(&net, set, &device);
        report += &format!("## {name} faces\n\n{}\n", eval::comparison_table(&rows));
    }
    report += "`samples.png`: degraded, CLAHE, enhancer, clean (validation faces).\n";
    let onnx = crate::enhance::export::onnx(&net, shared::INPUT_SIZE);
    let onnx_path = args.out.join("enhancer.onnx");
    std::fs::write(&onnx_path, &onnx).with_context(|| format!("writing {}", onnx_path.display()))?;
    let ms = tract_ms_per_face(&onnx, &val)?;
    report += &format!(
        "\n`enhancer.onnx` (fp32, {} bytes): tract on this machine, one face at a time, {ms:.3} ms per face (median of 200).\n",
        onnx.len()
    );
    let path = args.out.join("report.md");
    std::fs::write(&path, &report).with_context(|| format!("writing {}", path.display()))?;
    eval::sample_grid(&args.out.join("samples.png"), &net, &val, 12, &device)?;
    print!("{report}");
    Ok(())
}

/// Median wall time of tract running the exported graph on one face.
fn tract_ms_per_face(onnx: &[u8], set: &EvalSet) -> Result<f64> {
    use tract_onnx::prelude::{IntoTensor, tract_ndarray, tvec};
    let side = shared::INPUT_SIZE;
    let plan = artifacts::onnx::load_plan(onnx, [1, side, side]).map_err(|e| anyhow::anyhow!("tract: {e}"))?;
    let mut times = Vec::with_capacity(200);
    for face in set.degraded.iter().cycle().take(200) {
        let x: Vec<f32> = face.iter().map(|&p| crate::enhance::to_unit(p)).collect();
        let input = tract_ndarray::Array4::from_shape_vec((1, 1, side, side), x)?.into_tensor();
        let started = std::time::Instant::now();
        plan.run(tvec!(input.into()))
            .map_err(|e| anyhow::anyhow!("tract: {e}"))?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TrainEnhancerArgs,
    }

    fn args(out: &std::path::Path, extra: &[&str]) -> TrainEnhancerArgs {
        let mut argv = vec!["host", "--out", out.to_str().unwrap()];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).args
    }

    /// A run directory holding a checkpoint whose settings are `config`.
    fn saved_run(out: &std::path::Path, config: &EnhancerConfig) {
        let dir = crate::train::checkpoint::last_dir(out);
        std::fs::create_dir_all(&dir).unwrap();
        let state = train::EnhancerState {
            version: train::STATE_VERSION,
            config: config.clone(),
            epochs_done: 1,
            history: Vec::new(),
            best_epoch: None,
        };
        std::fs::write(
            dir.join(crate::train::checkpoint::STATE_FILE),
            serde_json::to_vec(&state).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn a_resumed_run_keeps_its_settings_and_a_new_one_does_not_overwrite_it() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        assert_eq!(
            run_config(&args(&out, &["--seed", "7"])).unwrap().seed,
            7,
            "a new directory"
        );

        let first = args(&out, &["--seed", "7", "--max-val", "100"]).config();
        saved_run(&out, &first);
        // Resumed with other data settings: the checkpoint's seed and validation size hold,
        // so validation faces and their degradations stay those the run was selected on.
        let resumed = run_config(&args(
            &out,
            &["--resume", "--seed", "9", "--max-val", "50", "--epochs", "40"],
        ))
        .unwrap();
        assert_eq!((resumed.seed, resumed.max_val, resumed.epochs), (7, 100, 40));

        let err = run_config(&args(&out, &[])).unwrap_err().to_string();
        assert!(
            err.contains("holds a previous enhancer run") && err.contains("--force"),
            "{err}"
        );
        assert!(crate::train::checkpoint::last_dir(&out).exists(), "nothing removed");
        assert_eq!(run_config(&args(&out, &["--force", "--seed", "9"])).unwrap().seed, 9);
        assert!(
            !crate::train::checkpoint::last_dir(&out).exists(),
            "--force replaces the old run"
        );
    }
}
