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
use crate::data::{self, BalanceConfig, DatasetKind, SplitProtocol};
use crate::eval;
use crate::train::checkpoint::{self, CheckpointState};
use crate::train::config::{PAPER_BATCH_SIZE, PAPER_EPOCHS, PAPER_LR};
use crate::train::{BackendKind, ImageSet, ScheduleKind, TrainConfig, Trainer};

/// Options of `host train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Directory with one sub-directory per dataset (default: $VIGIL_DATA, else ./data).
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
pub fn load_data(config: &TrainConfig, arch: &Architecture) -> Result<RunData> {
    let prepare = config.prepare_config();
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
        {
            tracing::warn!(
                "--resume keeps the checkpoint's datasets, protocol, seed, enhancement, balancing and flipping; differing options are ignored"
            );
        }
        resumed.epochs = config.epochs;
        resumed.out_dir = config.out_dir.clone();
        config = resumed;
        Some(resume_dir.as_path())
    } else {
        if resume_dir.exists() {
            tracing::warn!(
                "{} holds a previous run's checkpoint; it will be overwritten (use --resume to continue it)",
                resume_dir.display()
            );
        }
        None
    };
    config.validate().map_err(anyhow::Error::msg)?;
    let data = load_data(&config, &arch)?;
    let stop = install_ctrl_c();
    let trainer = Trainer::new(config.clone(), &arch, resume)?;
    tracing::info!(
        "training {} parameters on {} ({} epochs, batch {}, lr {}, schedule {}, seed {}, enhancement {:?}, balance {}, flip {})",
        trainer.model.trainable_params(),
        config.backend.name(),
        config.epochs,
        config.batch_size,
        config.lr,
        config.schedule,
        config.seed,
        config.preprocessing.enhancement,
        if config.balance.is_on() { "on" } else { "off" },
        if config.flip { "on" } else { "off" }
    );
    let outcome = trainer.fit(&data.train, &data.val, &stop)?;
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
    let results = eval::evaluate_parts(&outcome.best_model, &[("test", &data.test), ("val", &data.val)])?;
    let written = eval::write_run_report(
        &config.out_dir,
        &config,
        &outcome.state.history,
        outcome.state.best,
        results.clone(),
        notes,
    )?;
    for r in results.iter().filter(|r| r.split == "test") {
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
mod tests {
    use super::*;
    use clap::Parser;
    use shared::preprocess::Enhancement;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TrainArgs,
    }

    #[test]
    fn defaults_are_the_papers_pipeline() {
        let c = Cli::parse_from(["train"]).args.config();
        assert_eq!(c.preprocessing, Preprocessing::default());
        assert_eq!(c.balance, BalanceConfig::default());
        assert!(c.balance.is_on());
        assert_eq!(c.prepare_config().preprocessing, Preprocessing::default());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn ablation_options_reach_the_data_pipeline() {
        let c = Cli::parse_from(["train", "--enhancement", "none", "--no-balance", "--cache", "/c"])
            .args
            .config();
        assert_eq!(c.preprocessing.enhancement, Enhancement::None);
        assert_eq!(c.preprocessing.normalization, Preprocessing::default().normalization);
        assert!(!c.balance.is_on());
        let data = c.prepare_config();
        assert_eq!(data.preprocessing, c.preprocessing);
        assert_eq!(data.balance, BalanceConfig::off());
        assert_eq!(data.cache_dir, PathBuf::from("/c"));
        assert!(c.validate().is_ok());

        let eq = Cli::parse_from(["train", "--enhancement", "equalize"]).args.config();
        assert_eq!(eq.preprocessing.enhancement, Enhancement::Equalize);
        assert!(eq.balance.is_on());
        assert!(Cli::try_parse_from(["train", "--enhancement", "ffa"]).is_err());
        assert!(Cli::try_parse_from(["train", "--no-balance", "2"]).is_err());
    }
}
