//! `host alerts --model FILE`: which of a model's held-out faces would set off each emotion
//! alert at the policy's thresholds ([`crate::eval::alerts`]), with the model's calibrated
//! scores, so a threshold or a model is judged by the alarms a driver would hear.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rayon::prelude::*;
use shared::labels::softmax_at;
use shared::policy::PolicyConfig;
use shared::wire::ModelManifest;
use shared::{Emotion, NUM_CLASSES};

use super::held_out::{HeldOutArgs, LoadedModel};
use crate::data::{self, DatasetKind};
use crate::eval::alerts;
use crate::eval::robustness::{self, Preparation};
use crate::plot;

/// Options of `host alerts`.
#[derive(Debug, Clone, Args)]
pub struct AlertsArgs {
    /// The model and its faces.
    #[command(flatten)]
    pub held_out: HeldOutArgs,
    /// Only these datasets of the model's (default: each of them, a table each).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<DatasetKind>,
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

/// What `host alerts` measured.
pub struct Measured {
    /// The model.
    pub model: PathBuf,
    /// Its manifest.
    pub manifest: ModelManifest,
    /// Each dataset asked for, in order.
    pub datasets: Vec<DatasetAlerts>,
}

/// Runs `host alerts`: [`measure`], printed as Markdown.
pub fn run(args: &AlertsArgs) -> Result<()> {
    let Measured {
        model,
        manifest,
        datasets,
    } = measure(args)?;
    let split = args.held_out.split.name();
    println!(
        "# {}: the emotion alerts on held {split} faces\n\nThe share of each true class's faces whose scores (int8 in tract, temperature {}) \
         would raise each alert if the face were held: the signal at or above the default policy's raise threshold \
         ({} protocol, seed {}).\n",
        model.display(),
        manifest.temperature,
        manifest.split.name(),
        manifest.seed,
    );
    for d in datasets {
        println!("## {} ({} faces)\n\n{}", d.dataset, d.faces, alerts::table(&d.rates));
        if let Some(path) = d.plot {
            println!(
                "![{} {split} faces held: alerts raised]({})\n",
                d.dataset,
                path.display()
            );
        }
    }
    Ok(())
}

/// Classifies the split's faces of each dataset asked for and counts the alerts they would
/// raise; writes the plots when `args.plots` is set.
pub fn measure(args: &AlertsArgs) -> Result<Measured> {
    let LoadedModel {
        path: model,
        manifest,
        runner,
    } = args.held_out.load_model()?;
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
                "{} was not trained and tested on {d} (its datasets: {})",
                model.display(),
                manifest
                    .datasets
                    .iter()
                    .map(|d| d.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        args.only.clone()
    };
    // Each dataset is split on its own (its protocol and the model's seed), so preparing only
    // those asked for gives the same faces.
    let config = args.held_out.faces(&manifest, datasets.clone())?;
    let splits = data::load_splits(&config).context("loading the faces")?;
    let policy = PolicyConfig::default();
    if let Some(dir) = &args.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let split = args.held_out.split;
    let mut out = Vec::new();
    for dataset in datasets {
        let faces: Vec<_> = splits.part(split).iter().filter(|s| s.dataset == dataset).collect();
        anyhow::ensure!(!faces.is_empty(), "no {dataset} faces in the {} split", split.name());
        let bar = crate::progress::bar(faces.len() as u64, format!("{dataset} {}", split.name()));
        let scores: Vec<[f32; NUM_CLASSES]> = faces
            .par_iter()
            .map(|s| -> Result<[f32; NUM_CLASSES]> {
                let logits = runner.class_logits(&preparation.input(&s.pixels)?)?;
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
                let path = dir.join(format!("alerts_{dataset}_{}.png", split.name()));
                let title = format!("{dataset} {} faces held: alerts raised", split.name());
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
    Ok(Measured {
        model,
        manifest,
        datasets: out,
    })
}
