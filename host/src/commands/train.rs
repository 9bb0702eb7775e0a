//! `host train`: prepare (or load) the splits, train with the paper's regime by default,
//! checkpoint every epoch, and finish with the evaluation report and plots.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use shared::arch::Architecture;

use crate::data::{self, SplitName};
use crate::eval;
use crate::export::Views;
use crate::train::checkpoint::{self, CheckpointState};
use crate::train::{ImageSet, TrainConfig, Trainer};

mod args;
pub use args::{AugmentPreset, TrainArgs};

/// Train, validation and test parts of a run's data as network inputs.
pub struct RunData {
    /// Training images (noise-balanced unless the run turns it off; possibly truncated by
    /// `max_train`).
    pub train: ImageSet,
    /// Validation images.
    pub val: ImageSet,
    /// Test images.
    pub test: ImageSet,
    /// SHA-256 of the learned enhancer the faces went through, if any.
    pub enhancer_sha256: Option<String>,
}

/// Loads (preparing if needed) the splits of `config` and converts them once. The learned
/// enhancer, if the run has one, is read once, here: a run that recorded its hash (resumed,
/// evaluated) refuses another file found at that path.
pub fn load_data(config: &TrainConfig, arch: &Architecture, verify_sources: bool) -> Result<RunData> {
    let prepare = data::PrepareConfig {
        verify_sources,
        ..config.prepare_config()
    };
    let enhancer = data::faces::enhancer_for(&prepare).context("loading the run's face enhancer")?;
    let enhancer_sha256 = enhancer_hash(config, enhancer.learned_sha256())?;
    let splits = data::load_splits_with(&prepare, enhancer.as_ref()).with_context(|| {
        format!(
            "loading {:?} from {}",
            config.data.datasets.iter().map(|d| d.name()).collect::<Vec<_>>(),
            prepare.data.data_root.display()
        )
    })?;
    let norm = prepare.data.preprocessing.normalization;
    let per_image = arch.input.len();
    let mut train = ImageSet::from_samples(&splits.train, norm, per_image);
    if config.max_train > 0 {
        // The split is stored grouped, so take a seeded sample rather than the first rows.
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.data.seed);
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
        enhancer_sha256,
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
            config.data.datasets,
            config.data.data_root.display(),
            data.train.len(),
            data.val.len()
        );
    }
    Ok(data)
}

/// Ctrl-C, SIGTERM or SIGHUP sets the returned flag (the loop saves a checkpoint and stops);
/// a second one exits at once.
pub fn install_stop_handler() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let installed = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("second stop signal: exiting without saving");
            std::process::exit(super::Interrupted::EXIT_CODE.into());
        }
        eprintln!(
            "stop signal (Ctrl-C, SIGTERM or SIGHUP): finishing the current step, saving a checkpoint and stopping"
        );
    });
    if let Err(e) = installed {
        tracing::warn!("stop-signal handler not installed: {e}");
    }
    stop
}

/// The hash `config`'s run records for the learned enhancer it loaded (`loaded`), or why
/// that file is not the one the run recorded when it started.
fn enhancer_hash(config: &TrainConfig, loaded: Option<&str>) -> Result<Option<String>> {
    if let (Some(recorded), Some(loaded), Some(path)) = (&config.enhancer_sha256, loaded, &config.data.enhancer) {
        anyhow::ensure!(
            recorded == loaded,
            "{} is not the enhancer this run was trained behind (SHA-256 {recorded}, the file now {loaded}): \
             put that file back, or start a new run",
            path.display()
        );
    }
    Ok(loaded.map(str::to_owned))
}

/// Runs `host train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let arch = Architecture::paper(shared::NUM_CLASSES);
    let mut config = args.config();
    let resume_dir = checkpoint::last_dir(&args.out);
    let resume = if args.resume {
        let state: CheckpointState = checkpoint::load_state(&resume_dir, Some(&arch))
            .with_context(|| format!("--resume: cannot resume from {}", resume_dir.display()))?;
        if state.config.differs_on_resume(&config) {
            tracing::warn!(
                "--resume trains with the checkpoint's settings (all but --epochs and --out); the options given that differ from them are ignored"
            );
        }
        config = state.config.resumed(&config);
        Some(resume_dir.as_path())
    } else {
        super::make_way_for_new_run(&args.out, "run", args.force)?;
        None
    };
    config.validate()?;
    let data = load_data(&config, &arch, !args.cache_only)?;
    if resume.is_none() {
        // Recorded for the run's export to check (TrainConfig::enhancer_sha256).
        config.enhancer_sha256 = data.enhancer_sha256.clone();
    }
    let stop = install_stop_handler();
    anyhow::ensure!(
        args.save_every.is_finite() && args.save_every >= 0.0,
        "--save-every {} must be a number of minutes, 0 or more",
        args.save_every
    );
    let mut trainer = Trainer::new(config.clone(), &arch, resume, &data.train)?;
    trainer.save_every = (args.save_every > 0.0).then(|| std::time::Duration::from_secs_f64(60.0 * args.save_every));
    tracing::info!(
        "training {} parameters on {} ({} epochs, batch {}, lr {}, schedule {}, warm-up {}, {:?}, seed {}, enhancement {:?}, balance {}, flip {}, {:?}, targets {:?}, smoothing {}, mixup {}{}{}{})",
        trainer.model.trainable_params(),
        config.backend.name(),
        config.epochs,
        config.batch_size,
        config.lr,
        config.schedule,
        config.warmup_epochs,
        config.optimizer,
        config.data.seed,
        config.data.preprocessing.enhancement,
        if config.data.balance.is_on() { "on" } else { "off" },
        if config.flip { "on" } else { "off" },
        config.augment,
        config.labels,
        config.label_smoothing,
        config.mixup,
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
            .data
            .enhancer
            .as_ref()
            .map(|p| format!(", faces restored by {} first", p.display()))
            .unwrap_or_default()
    );
    let outcome = trainer.fit(&data.train, &data.val, &|| stop.load(Ordering::Relaxed))?;
    if outcome.interrupted {
        return Err(super::Interrupted(format!(
            "interrupted: checkpoint in {}; continue with --resume",
            resume_dir.display()
        ))
        .into());
    }
    let mut notes = Vec::new();
    if let Some(why) = &outcome.stopped_early {
        tracing::info!("stopped early: {why}");
        notes.push(format!("stopped early: {why}"));
    }
    let results = eval::evaluate_parts(
        &outcome.best_model,
        &[(SplitName::Test, &data.test), (SplitName::Val, &data.val)],
        Views::Single,
    )?;
    let written = eval::write_run_report(
        &config.out_dir,
        &config,
        &outcome.state.history,
        outcome.state.average.as_ref().map_or(&[][..], |a| &a.history),
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
