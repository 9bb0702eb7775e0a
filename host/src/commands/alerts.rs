//! `host alerts --model FILE`: which of a model's held-out faces would set off each emotion
//! alert at the policy's thresholds ([`crate::eval::alerts`]), with the model's calibrated
//! scores, so a threshold or a model is judged by the alarms a driver would hear.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rayon::prelude::*;
use shared::labels::softmax_at;
use shared::policy::PolicyConfig;
use shared::{Emotion, NUM_CLASSES};

use crate::data::{self, DatasetKind, PrepareConfig, SplitName};
use crate::eval::alerts;
use crate::eval::robustness::{self, Preparation};
use crate::export::TractRunner;
use crate::plot;

/// Options of `host alerts`.
#[derive(Debug, Clone, Args)]
pub struct AlertsArgs {
    /// The classifier (ONNX with its manifest beside it) [default: the shipped models/vigil-int8.onnx].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Directory with the datasets (default: $VIGIL_DATA, else ../shared/data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Prepared-data cache of faces without enhancement, shared with `host robustness` (made
    /// here when missing).
    #[arg(long, default_value = "prepared-clean")]
    pub cache: PathBuf,
    /// Trust complete cache files without listing the dataset directories.
    #[arg(long)]
    pub cache_only: bool,
    /// Only these datasets of the model's (default: each of them, a table each).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<DatasetKind>,
    /// Which part of the split (the model's protocol and seed, from its manifest).
    #[arg(long, value_enum, default_value_t = SplitName::Test)]
    pub split: SplitName,
    /// Write a plot per dataset here (`alerts_DATASET_SPLIT.png`): each alert's hits and
    /// false alarms against its raise threshold.
    #[arg(long)]
    pub plots: Option<PathBuf>,
}

/// One dataset's held-face rates.
#[derive(Debug, Clone)]
pub struct DatasetAlerts {
    /// The dataset.
    pub dataset: DatasetKind,
    /// Its faces in the split.
    pub faces: usize,
    /// Each face's calibrated scores, in the split's order.
    pub scores: Vec<[f32; NUM_CLASSES]>,
    /// Each emotion alert's rates at the default policy's thresholds.
    pub rates: Vec<alerts::HeldFaceRates>,
    /// The plot, when asked for.
    pub plot: Option<PathBuf>,
}

/// Runs `host alerts`: [`measure`], printed as Markdown.
pub fn run(args: &AlertsArgs) -> Result<()> {
    let (model, _, manifest) = load(args)?;
    println!(
        "# {}: the emotion alerts on held {} faces\n\nThe share of each true class's faces whose scores (int8 in tract, temperature {}) \
         would raise each alert if the face were held: the signal at or above the default policy's raise threshold \
         ({} protocol, seed {}).\n",
        model.display(),
        args.split.name(),
        manifest.temperature,
        manifest.split.name(),
        manifest.seed,
    );
    for d in measure(args)? {
        println!("## {} ({} faces)\n\n{}", d.dataset, d.faces, alerts::table(&d.rates));
        if let Some(path) = d.plot {
            println!(
                "![{} {} faces held: alerts raised]({})\n",
                d.dataset,
                args.split.name(),
                path.display()
            );
        }
    }
    Ok(())
}

/// The model's path, its bytes and its manifest (checked against them).
fn load(args: &AlertsArgs) -> Result<(PathBuf, Vec<u8>, shared::wire::ModelManifest)> {
    let model = match &args.model {
        Some(path) => path.clone(),
        None => artifacts::shipped::find(artifacts::shipped::MODEL, "--model")?,
    };
    let (bytes, manifest) = artifacts::manifest::load_verified(&model)?;
    Ok((model, bytes, manifest))
}

/// Classifies the split's faces of each dataset asked for and counts the alerts they would
/// raise; writes the plots when `args.plots` is set.
pub fn measure(args: &AlertsArgs) -> Result<Vec<DatasetAlerts>> {
    let (model, bytes, manifest) = load(args)?;
    let chw = manifest.input_chw.map(|d| d as usize);
    let runner = TractRunner::new(&bytes, chw).with_context(|| format!("loading {}", model.display()))?;
    let enhancer = robustness::model_enhancer(&model, &manifest)?;
    let preparation = Preparation {
        enhancer: enhancer.as_ref(),
        preprocessing: manifest.preprocessing,
    };
    let datasets: Vec<DatasetKind> = if args.only.is_empty() {
        manifest.datasets.clone()
    } else {
        for d in &args.only {
            anyhow::ensure!(
                manifest.datasets.contains(d),
                "{} was not trained and tested on {d} (its datasets: {:?})",
                model.display(),
                manifest.datasets
            );
        }
        args.only.clone()
    };
    // Each dataset is split on its own (its protocol and the model's seed), so preparing only
    // those asked for gives the same faces.
    let config = PrepareConfig {
        verify_sources: !args.cache_only,
        ..robustness::clean_faces(
            &manifest,
            datasets.clone(),
            args.data.clone().unwrap_or_else(artifacts::data::default_dir),
            args.cache.clone(),
        )?
    };
    let splits = data::load_splits(&config).context("loading the faces")?;
    let policy = PolicyConfig::default();
    if let Some(dir) = &args.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut out = Vec::new();
    for dataset in datasets {
        let faces: Vec<_> = splits
            .part(args.split)
            .iter()
            .filter(|s| s.dataset == dataset)
            .collect();
        anyhow::ensure!(
            !faces.is_empty(),
            "no {dataset} faces in the {} split",
            args.split.name()
        );
        let bar = crate::progress::bar(faces.len() as u64, format!("{dataset} {}", args.split.name()));
        let scores: Vec<[f32; NUM_CLASSES]> = faces
            .par_iter()
            .map(|s| -> Result<[f32; NUM_CLASSES]> {
                let logits = runner.logits(&preparation.input(&s.pixels)?)?;
                let logits: [f32; NUM_CLASSES] = logits
                    .try_into()
                    .map_err(|v: Vec<f32>| anyhow::anyhow!("{} logits, expected {NUM_CLASSES}", v.len()))?;
                bar.inc(1);
                Ok(softmax_at(&logits, manifest.temperature))
            })
            .collect::<Result<_>>()?;
        bar.finish_and_clear();
        let labels: Vec<Emotion> = faces.iter().map(|s| s.label).collect();
        let rates = alerts::held_face_rates(&scores, &labels, &policy);
        let plot = match &args.plots {
            None => None,
            Some(dir) => {
                let thresholds: Vec<f32> = (1..100).map(|i| i as f32 / 100.0).collect();
                let panels: Vec<plot::AlertSweep<'_>> = rates
                    .iter()
                    .map(|r| {
                        let sweep = alerts::sweep(&scores, &labels, r.kind, thresholds.iter().copied());
                        (r.kind.name(), r.raise, sweep)
                    })
                    .collect();
                let path = dir.join(format!("alerts_{dataset}_{}.png", args.split.name()));
                let title = format!("{dataset} {} faces held: alerts raised", args.split.name());
                plot::alert_thresholds(&path, &title, &panels)?;
                Some(path)
            }
        };
        out.push(DatasetAlerts {
            dataset,
            faces: faces.len(),
            scores,
            rates,
            plot,
        });
    }
    Ok(out)
}
