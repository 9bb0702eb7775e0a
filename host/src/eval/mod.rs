//! Evaluation of a trained network: per-class accuracy and confusion matrices per split and
//! per dataset, the Markdown / CSV report and the plots.
//!
//! Why per dataset: training may mix datasets (CK+ with JAFFE, say), but the paper reports
//! each dataset on its own (Tables 3-7), and a mixed accuracy would hide a weak dataset behind
//! a strong one. Both `host train` (at the end) and `host eval --run` go through
//! [`evaluate_parts`] and [`write_run_report`], so the two reports cannot differ in form.

pub mod alerts;
pub mod calibration;
pub mod metrics;
pub mod pass;
pub mod report;
pub mod robustness;

use std::path::{Path, PathBuf};

pub use metrics::ConfusionMatrix;
pub use pass::{Evaluation, evaluate, evaluate_views};
pub use report::{RunReport, SplitResult};

use crate::data::SplitName;
use crate::export::Views;
use crate::model::Network;
use crate::plot;
use crate::train::average::AverageMetrics;
use crate::train::checkpoint::Best;
use crate::train::trainer::EVAL_BATCH;
use crate::train::{EpochMetrics, ImageSet, TrainConfig, TrainError};

/// Evaluation / report failures.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Inference failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
    /// A report file could not be written.
    #[error("writing the report in {path}: {source}")]
    Io {
        /// Directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Evaluates `model` on each part (e.g. `(SplitName::Test, &test)`), its logits averaged over
/// `views` of each face: one result per dataset in the part, plus one for all datasets
/// together when there are several.
pub fn evaluate_parts(
    model: &Network,
    parts: &[(SplitName, &ImageSet)],
    views: Views,
) -> Result<Vec<SplitResult>, EvalError> {
    let mut results = Vec::new();
    for &(split, set) in parts {
        if set.is_empty() {
            continue;
        }
        let eval = evaluate_views(model, set, EVAL_BATCH, views)?;
        let kinds = set.dataset_kinds();
        for &kind in &kinds {
            let idx: Vec<usize> = (0..set.len()).filter(|&i| set.datasets[i] == kind).collect();
            let labels: Vec<u8> = idx.iter().map(|&i| set.labels[i]).collect();
            let preds: Vec<u8> = idx.iter().map(|&i| eval.predictions[i]).collect();
            // The loss of a subset needs its own pass only when the part mixes datasets.
            let loss = if kinds.len() == 1 {
                eval.loss
            } else {
                let mut sub = ImageSet {
                    per_image: set.per_image,
                    ..ImageSet::default()
                };
                for &i in &idx {
                    sub.inputs
                        .extend_from_slice(&set.inputs[i * set.per_image..(i + 1) * set.per_image]);
                    sub.labels.push(set.labels[i]);
                    sub.datasets.push(kind);
                }
                evaluate_views(model, &sub, EVAL_BATCH, views)?.loss
            };
            results.push(SplitResult {
                split,
                dataset: Some(kind),
                loss,
                confusion: ConfusionMatrix::from_predictions(&labels, &preds),
            });
        }
        if kinds.len() > 1 {
            results.push(SplitResult {
                split,
                dataset: None,
                loss: eval.loss,
                confusion: eval.confusion,
            });
        }
    }
    Ok(results)
}

/// Draws the plots into `<run>/plots/` and writes `report.md` and the CSVs into `run`.
/// `average` is the weight average's validation per epoch (empty without `--average-from`).
pub fn write_run_report(
    run: &Path,
    config: &TrainConfig,
    history: &[EpochMetrics],
    average: &[AverageMetrics],
    best: Option<Best>,
    results: Vec<SplitResult>,
    notes: Vec<String>,
) -> Result<Vec<PathBuf>, EvalError> {
    let plots_dir = run.join("plots");
    std::fs::create_dir_all(&plots_dir).map_err(|source| EvalError::Io {
        path: plots_dir.clone(),
        source,
    })?;
    let mut plots = Vec::new();
    let mut written = Vec::new();
    let names: Vec<&str> = config.data.datasets.iter().map(|d| d.name()).collect();
    let what = format!("{} ({} split)", names.join("+"), config.data.protocol);
    if !history.is_empty() {
        let p = plots_dir.join("val_loss_lr.png");
        plot::loss_and_lr(&p, history, &format!("{what}: validation loss and learning rate"))?;
        plots.push((
            "validation loss and learning rate per epoch".to_string(),
            "plots/val_loss_lr.png".to_string(),
        ));
        written.push(p);
        let p = plots_dir.join("accuracy.png");
        plot::accuracy(&p, history, average, &format!("{what}: accuracy"))?;
        plots.push((
            "training and validation accuracy".to_string(),
            "plots/accuracy.png".to_string(),
        ));
        written.push(p);
    }
    for r in &results {
        let file = format!("confusion_{}_{}.png", r.split, r.dataset_name());
        let p = plots_dir.join(&file);
        let title = format!("{} split, {}: confusion (%)", r.split, r.dataset_name());
        plot::confusion(&p, &r.confusion, &title)?;
        plots.push((title, format!("plots/{file}")));
        written.push(p);
    }
    let report = RunReport {
        config: config.clone(),
        history: history.to_vec(),
        best,
        results,
        plots,
        notes,
    };
    written.extend(report::write(run, &report).map_err(|source| EvalError::Io {
        path: run.to_path_buf(),
        source,
    })?);
    Ok(written)
}
