//! `host train`: prepare (or load) the splits, train with the paper's regime by default,
//! checkpoint every epoch, and finish with the evaluation report and plots.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::Args;
use shared::arch::Architecture;
use shared::preprocess::Preprocessing;

use super::prepare::EnhancementArg;
use crate::data::{self, BalanceConfig, DatasetKind, SplitName, SplitProtocol};
use crate::eval;
use crate::train::augment::Augmentation;
use crate::train::checkpoint::{self, CheckpointState};
use crate::train::config::{DatasetRepeat, LabelMode, OptimizerConfig, OptimizerKind};
use crate::train::config::{PAPER_BATCH_SIZE, PAPER_EPOCHS, PAPER_LR};
use crate::train::{BackendKind, ImageSet, ScheduleKind, TrainConfig, Trainer};

/// Named augmentation presets (`--augment`); single kinds are set with `--aug-*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AugmentPreset {
    /// No augmentation beyond `--flip`.
    #[default]
    None,
    /// [`Augmentation::WILD`]: crop, shift, rotation, brightness, contrast, erasing.
    Wild,
}

/// Options of `host train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Directory with one sub-directory per dataset (default: $VIGIL_DATA, else ../shared/data beside the checkout).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Datasets to train on together, comma-separated (each is also evaluated on its own).
    #[arg(long = "dataset", alias = "datasets", value_enum, value_delimiter = ',', default_values_t = vec![DatasetKind::CkPlus])]
    pub datasets: Vec<DatasetKind>,
    /// Split protocol: the paper's random image split, or subject-independent.
    #[arg(long, value_enum, default_value_t = SplitProtocol::Paper)]
    pub protocol: SplitProtocol,
    /// Where prepared splits are cached (made on first use, as `host prepare` would).
    #[arg(long, default_value = "prepared")]
    pub cache: PathBuf,
    /// Seed of the splits, initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Epochs (paper: 30).
    #[arg(long, default_value_t = PAPER_EPOCHS)]
    pub epochs: usize,
    /// Images per step (paper: 64).
    #[arg(long, default_value_t = PAPER_BATCH_SIZE)]
    pub batch_size: usize,
    /// Adam learning rate (paper: 0.001).
    #[arg(long, default_value_t = PAPER_LR)]
    pub lr: f64,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value_t = ScheduleKind::LossDecay)]
    pub schedule: ScheduleKind,
    /// Run directory (checkpoints, metrics.csv, report.md, plots/).
    #[arg(long, default_value = "runs/latest")]
    pub out: PathBuf,
    /// Compute backend (wgpu / cuda need the cargo feature of that name).
    #[arg(long, value_enum, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// Continue the run in --out from its last checkpoint (its data, seed and settings are
    /// kept; --epochs may extend it).
    #[arg(long)]
    pub resume: bool,
    /// Minutes between checkpoints in the middle of an epoch (0: at epoch ends only); a
    /// killed run loses at most this much work.
    #[arg(long, default_value_t = 10.0)]
    pub save_every: f64,
    /// Train on at most this many images (0: all); for quick checks.
    #[arg(long, default_value_t = 0)]
    pub max_train: usize,
    /// Contrast enhancement of the 48x48 faces (the export's manifest carries it to the
    /// edge). Another choice than the cache in --cache was made with is refused: give such
    /// runs their own --cache.
    #[arg(long, value_enum, default_value_t = EnhancementArg::Clahe)]
    pub enhancement: EnhancementArg,
    /// Train on the originals only, without the Gaussian-noise copies of minority classes
    /// (an ablation of the paper's step 4; give it its own --cache too).
    #[arg(long)]
    pub no_balance: bool,
    /// Mirror training images left-right at random (seeded; not in the paper).
    #[arg(long)]
    pub flip: bool,
    /// Augmentation preset of training images (after CLAHE, on the network input).
    #[arg(long, value_enum, default_value_t = AugmentPreset::None)]
    pub augment: AugmentPreset,
    /// Smallest random-crop side, as a fraction of the image (1: off); overrides the preset.
    #[arg(long)]
    pub aug_crop: Option<f32>,
    /// Largest shift as a fraction of the side (0: off); overrides the preset.
    #[arg(long)]
    pub aug_shift: Option<f32>,
    /// Largest rotation in degrees (0: off); overrides the preset.
    #[arg(long)]
    pub aug_rotate: Option<f32>,
    /// Largest brightness offset, fraction of the value range (0: off); overrides the preset.
    #[arg(long)]
    pub aug_brightness: Option<f32>,
    /// Largest contrast change (0: off); overrides the preset.
    #[arg(long)]
    pub aug_contrast: Option<f32>,
    /// Probability of random erasing (0: off); overrides the preset.
    #[arg(long)]
    pub aug_erase: Option<f32>,
    /// Training targets: one-hot labels, or FER+'s vote distribution where there are votes.
    #[arg(long, value_enum, default_value_t = LabelMode::Majority)]
    pub labels: LabelMode,
    /// Label smoothing (0: none).
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f32,
    /// Optimiser (paper: Adam).
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    pub optimizer: OptimizerKind,
    /// Weight decay (AdamW: decoupled; Adam and SGD: L2).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// SGD (Nesterov) momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Epochs of linear learning-rate warm-up before the schedule.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// Start from the best weights of this run directory (fine-tuning) instead of a seeded
    /// random initialisation.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// Oversample datasets of the mix: DATASET=TIMES, comma-separated (e.g. ckplus=4,jaffe=8):
    /// each of its training images appears TIMES times per epoch, augmented anew each time.
    #[arg(long, value_delimiter = ',')]
    pub repeat: Vec<DatasetRepeat>,
    /// Train on faces restored by this learned enhancer (`host export --enhancer`) before
    /// --enhancement; the export puts it beside the model and names it in the manifest.
    #[arg(long)]
    pub enhancer: Option<PathBuf>,
    /// Start a fresh run in --out even though it holds a previous run's checkpoints (they are
    /// replaced); without it such a run directory is refused.
    #[arg(long)]
    pub force: bool,
    /// Train from complete prepared-cache files alone, without listing the datasets to check
    /// that the cache matches them (for a machine that has the cache but not the data).
    #[arg(long)]
    pub cache_only: bool,
}

impl TrainArgs {
    /// The library configuration these options describe.
    pub fn config(&self) -> TrainConfig {
        let defaults = TrainConfig::default();
        TrainConfig {
            data_root: self.data.clone().unwrap_or(defaults.data_root),
            datasets: self.datasets.clone(),
            protocol: self.protocol,
            cache_dir: self.cache.clone(),
            seed: self.seed,
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            schedule: self.schedule,
            out_dir: self.out.clone(),
            backend: self.backend,
            max_train: self.max_train,
            preprocessing: Preprocessing {
                enhancement: self.enhancement.enhancement(),
                ..defaults.preprocessing
            },
            balance: if self.no_balance {
                BalanceConfig::off()
            } else {
                defaults.balance
            },
            flip: self.flip,
            augment: self.augmentation(),
            labels: self.labels,
            label_smoothing: self.label_smoothing,
            optimizer: OptimizerConfig {
                kind: self.optimizer,
                weight_decay: self.weight_decay,
                momentum: self.momentum,
            },
            warmup_epochs: self.warmup,
            init_from: self.init_from.clone(),
            repeat: self.repeat.clone(),
            enhancer: self.enhancer.clone(),
        }
    }

    /// The preset with the single-kind overrides applied.
    pub fn augmentation(&self) -> Augmentation {
        let base = match self.augment {
            AugmentPreset::None => Augmentation::OFF,
            AugmentPreset::Wild => Augmentation::WILD,
        };
        Augmentation {
            crop: self.aug_crop.unwrap_or(base.crop),
            shift: self.aug_shift.unwrap_or(base.shift),
            rotate: self.aug_rotate.unwrap_or(base.rotate),
            brightness: self.aug_brightness.unwrap_or(base.brightness),
            contrast: self.aug_contrast.unwrap_or(base.contrast),
            erase: self.aug_erase.unwrap_or(base.erase),
        }
    }
}

/// Train, validation and test parts of a run's data as network inputs.
pub struct RunData {
    /// Training images (noise-balanced unless the run turns it off; possibly truncated by
    /// `max_train`).
    pub train: ImageSet,
    /// Validation images.
    pub val: ImageSet,
    /// Test images.
    pub test: ImageSet,
}

/// Loads (preparing if needed) the splits of `config` and converts them once.
pub fn load_data(config: &TrainConfig, arch: &Architecture, verify_sources: bool) -> Result<RunData> {
    let prepare = data::PrepareConfig {
        verify_sources,
        ..config.prepare_config()
    };
    let splits = data::load_splits(&prepare).with_context(|| {
        format!(
            "loading {:?} from {}",
            config.datasets.iter().map(|d| d.name()).collect::<Vec<_>>(),
            prepare.data_root.display()
        )
    })?;
    let norm = prepare.preprocessing.normalization;
    let per_image = arch.input.len();
    let mut train = ImageSet::from_samples(&splits.train, norm, per_image);
    if config.max_train > 0 {
        // The split is stored grouped, so take a seeded sample rather than the first rows.
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
        let order = train.shuffled(&mut rng);
        let mut sub = ImageSet {
            per_image,
            ..ImageSet::default()
        };
        for &i in order.iter().take(config.max_train) {
            sub.inputs
                .extend_from_slice(&train.inputs[i * per_image..(i + 1) * per_image]);
            sub.labels.push(train.labels[i]);
            sub.datasets.push(train.datasets[i]);
            sub.votes.push(train.votes[i]);
        }
        train = sub;
    }
    let data = RunData {
        train,
        val: ImageSet::from_samples(&splits.val, norm, per_image),
        test: ImageSet::from_samples(&splits.test, norm, per_image),
    };
    tracing::info!(
        "images: {} train, {} validation, {} test",
        data.train.len(),
        data.val.len(),
        data.test.len()
    );
    if data.train.is_empty() || data.val.is_empty() {
        bail!(
            "no training or validation images for {:?} under {} (train {}, val {})",
            config.datasets,
            config.data_root.display(),
            data.train.len(),
            data.val.len()
        );
    }
    Ok(data)
}

/// Ctrl-C sets the returned flag (the loop saves a checkpoint and stops); a second Ctrl-C
/// exits at once.
pub fn install_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let installed = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("second Ctrl-C: exiting without saving");
            std::process::exit(130);
        }
        eprintln!("Ctrl-C: finishing the current step, saving a checkpoint and stopping");
    });
    if let Err(e) = installed {
        tracing::warn!("Ctrl-C handler not installed: {e}");
    }
    stop
}

/// Runs `host train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let arch = Architecture::paper(shared::NUM_CLASSES);
    let mut config = args.config();
    let resume_dir = checkpoint::last_dir(&args.out);
    let resume = if args.resume {
        let state: CheckpointState = checkpoint::load_state(&resume_dir, Some(&arch))
            .with_context(|| format!("--resume: cannot resume from {}", resume_dir.display()))?;
        let mut resumed = state.config.clone();
        if resumed.datasets != config.datasets
            || resumed.seed != config.seed
            || resumed.protocol != config.protocol
            || resumed.preprocessing != config.preprocessing
            || resumed.balance != config.balance
            || resumed.flip != config.flip
            || resumed.augment != config.augment
            || resumed.labels != config.labels
            || resumed.optimizer != config.optimizer
            || resumed.repeat != config.repeat
        {
            tracing::warn!(
                "--resume keeps the checkpoint's datasets, protocol, seed, enhancement, balancing, augmentation, targets, optimiser and repeats; differing options are ignored"
            );
        }
        resumed.epochs = config.epochs;
        resumed.out_dir = config.out_dir.clone();
        config = resumed;
        Some(resume_dir.as_path())
    } else {
        if resume_dir.exists() || checkpoint::best_dir(&args.out).exists() {
            if !args.force {
                bail!(
                    "{} holds a previous run's checkpoints: continue it with --resume, or replace it with --force",
                    args.out.display()
                );
            }
            tracing::warn!("--force: replacing the previous run in {}", args.out.display());
            for dir in [resume_dir.clone(), checkpoint::best_dir(&args.out)] {
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
                }
            }
        }
        None
    };
    config.validate()?;
    let data = load_data(&config, &arch, !args.cache_only)?;
    let stop = install_ctrl_c();
    anyhow::ensure!(
        args.save_every.is_finite() && args.save_every >= 0.0,
        "--save-every {} must be a number of minutes, 0 or more",
        args.save_every
    );
    let mut trainer = Trainer::new(config.clone(), &arch, resume)?;
    trainer.save_every = (args.save_every > 0.0).then(|| std::time::Duration::from_secs_f64(60.0 * args.save_every));
    tracing::info!(
        "training {} parameters on {} ({} epochs, batch {}, lr {}, schedule {}, warm-up {}, {:?}, seed {}, enhancement {:?}, balance {}, flip {}, {:?}, targets {:?}, smoothing {}{}{}{})",
        trainer.model.trainable_params(),
        config.backend.name(),
        config.epochs,
        config.batch_size,
        config.lr,
        config.schedule,
        config.warmup_epochs,
        config.optimizer,
        config.seed,
        config.preprocessing.enhancement,
        if config.balance.is_on() { "on" } else { "off" },
        if config.flip { "on" } else { "off" },
        config.augment,
        config.labels,
        config.label_smoothing,
        if config.repeat.is_empty() {
            String::new()
        } else {
            let r: Vec<_> = config.repeat.iter().map(ToString::to_string).collect();
            format!(", repeat {}", r.join(","))
        },
        config
            .init_from
            .as_ref()
            .map(|p| format!(", init from {}", p.display()))
            .unwrap_or_default(),
        config
            .enhancer
            .as_ref()
            .map(|p| format!(", faces restored by {} first", p.display()))
            .unwrap_or_default()
    );
    let outcome = trainer.fit(&data.train, &data.val, &|| stop.load(Ordering::Relaxed))?;
    if outcome.interrupted {
        println!(
            "interrupted: checkpoint in {}; continue with --resume",
            resume_dir.display()
        );
        return Ok(());
    }
    let mut notes = Vec::new();
    if let Some(why) = &outcome.stopped_early {
        tracing::info!("stopped early: {why}");
        notes.push(format!("stopped early: {why}"));
    }
    let results = eval::evaluate_parts(
        &outcome.best_model,
        &[(SplitName::Test, &data.test), (SplitName::Val, &data.val)],
    )?;
    let written = eval::write_run_report(
        &config.out_dir,
        &config,
        &outcome.state.history,
        outcome.state.best,
        results.clone(),
        notes,
    )?;
    for r in results.iter().filter(|r| r.split == SplitName::Test) {
        println!(
            "test {}: accuracy {:.2}%, mean per-class {:.2}% ({} images)",
            r.dataset_name(),
            100.0 * r.confusion.accuracy().unwrap_or(0.0),
            100.0 * r.confusion.mean_class_accuracy().unwrap_or(0.0),
            r.confusion.total()
        );
    }
    println!("report: {}", config.out_dir.join("report.md").display());
    tracing::debug!("wrote {} files", written.len());
    Ok(())
}

#[cfg(test)]
mod tests;
