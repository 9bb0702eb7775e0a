//! The run report: Markdown and CSV tables in the layout of the paper's Tables 3-4, with the
//! split named, the training time per image, and links to the plots.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use shared::preprocess::Enhancement;
use shared::{Emotion, NUM_CLASSES};

use super::metrics::ConfusionMatrix;
use crate::data::{BalanceConfig, DatasetKind, SplitName, SplitProtocol};
use crate::train::checkpoint::Best;
use crate::train::{EpochMetrics, TrainConfig};

/// The paper's per-class accuracies (%) and mean, Tables 3-4, for comparison.
pub fn paper_per_class(dataset: DatasetKind) -> Option<([f64; NUM_CLASSES], f64)> {
    match dataset {
        DatasetKind::CkPlus => Some(([85.52, 90.43, 74.72, 100.00, 90.54, 75.19, 97.60], 91.82)),
        DatasetKind::Jaffe => Some(([70.00, 68.67, 62.00, 93.33, 78.67, 62.67, 95.00], 77.89)),
        _ => None,
    }
}

/// One evaluated (split, dataset) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitResult {
    /// Which part of the split.
    pub split: SplitName,
    /// The dataset, or `None` for all datasets of the run together.
    pub dataset: Option<DatasetKind>,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Counts.
    pub confusion: ConfusionMatrix,
}

impl SplitResult {
    /// `ckplus` or `all`: used in file names.
    pub fn dataset_name(&self) -> &'static str {
        self.dataset.map_or("all", DatasetKind::name)
    }
}

/// Everything the report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The run's configuration.
    pub config: TrainConfig,
    /// Epoch history.
    pub history: Vec<EpochMetrics>,
    /// Best validation epoch (the evaluated weights).
    pub best: Option<Best>,
    /// Evaluations.
    pub results: Vec<SplitResult>,
    /// Plot files, relative to the report.
    pub plots: Vec<(String, String)>,
    /// Free-form notes (e.g. early stop reason).
    pub notes: Vec<String>,
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{:.2}", 100.0 * v))
}

fn protocol_words(p: SplitProtocol) -> &'static str {
    match p {
        SplitProtocol::Paper => {
            "paper (random 4:1 image split, 10% of train for validation; frames of one subject can be on both sides)"
        }
        SplitProtocol::Subject => "subject-independent (no subject in two splits)",
    }
}

fn enhancement_words(e: Enhancement) -> String {
    match e {
        Enhancement::Clahe { clip_limit, tiles } => format!("CLAHE (clip limit {clip_limit}, {tiles}x{tiles} tiles)"),
        Enhancement::Equalize => "global histogram equalisation".into(),
        Enhancement::None => "none".into(),
    }
}

fn balance_words(b: &BalanceConfig) -> String {
    if b.is_on() {
        format!(
            "Gaussian-noise copies (std {:.3}) of minority training classes, up to {}x their size, capped at the largest class",
            b.noise_std, b.factor
        )
    } else {
        "off (training originals only)".into()
    }
}

/// Mean training time per image over the recorded epochs (ms).
pub fn mean_ms_per_image(history: &[EpochMetrics]) -> Option<f64> {
    (!history.is_empty()).then(|| history.iter().map(|m| m.ms_per_image).sum::<f64>() / history.len() as f64)
}

/// Renders the Markdown report.
pub fn render_markdown(report: &RunReport) -> String {
    let c = &report.config;
    let mut md = String::new();
    let names: Vec<&str> = c.data.datasets.iter().map(|d| d.name()).collect();
    let _ = writeln!(md, "# vigil training report: {}\n", c.out_dir.display());
    let _ = writeln!(md, "| setting | value |\n|---|---|");
    let _ = writeln!(md, "| datasets | {} |", names.join(", "));
    let _ = writeln!(md, "| split protocol | {} |", protocol_words(c.data.protocol));
    let _ = writeln!(md, "| seed | {} |", c.data.seed);
    let _ = writeln!(md, "| epochs | {} of {} |", report.history.len(), c.epochs);
    let _ = writeln!(md, "| batch size | {} |", c.batch_size);
    let o = &c.optimizer;
    let decay = if o.weight_decay > 0.0 {
        format!(", weight decay {}", o.weight_decay)
    } else {
        String::new()
    };
    let optimiser = match o.kind {
        crate::train::config::OptimizerKind::Adam => "Adam".to_string(),
        crate::train::config::OptimizerKind::AdamW => "AdamW".to_string(),
        crate::train::config::OptimizerKind::Sgd => format!("SGD, Nesterov momentum {}", o.momentum),
    };
    let _ = writeln!(md, "| optimiser | {optimiser}, lr {}{decay} |", c.lr);
    let warmup = if c.warmup_epochs > 0 {
        format!(" after {} warm-up epoch(s)", c.warmup_epochs)
    } else {
        String::new()
    };
    let _ = writeln!(md, "| lr schedule | {}{warmup} |", c.schedule);
    let targets = match c.labels {
        crate::train::config::LabelMode::Majority => "one-hot labels",
        crate::train::config::LabelMode::Probability => {
            "annotator vote distributions where present (FER+), else one-hot"
        }
    };
    let _ = writeln!(
        md,
        "| training targets | {targets}, label smoothing {} |",
        c.label_smoothing
    );
    if c.mixup > 0.0 {
        let _ = writeln!(md, "| mixup | alpha {} (batch blended with a shuffled copy) |", c.mixup);
    }
    if let Some(init) = &c.init_from {
        let what = if crate::train::init::is_model_file(init) {
            "int8 model read back"
        } else {
            "best checkpoint"
        };
        let _ = writeln!(md, "| initialised from | {} ({what}) |", init.display());
    }
    if let Some(from) = c.average_from {
        let _ = writeln!(
            md,
            "| weight averaging | the weights at the end of every epoch from epoch {from} on (`average.csv`; BatchNorm statistics re-measured) |"
        );
    }
    let _ = writeln!(
        md,
        "| enhancement | {} |",
        enhancement_words(c.data.preprocessing.enhancement)
    );
    let _ = writeln!(md, "| class balancing | {} |", balance_words(&c.data.balance));
    let mut kinds = Vec::new();
    if c.flip {
        kinds.push("random left-right mirror of training images (p = 0.5)".to_string());
    }
    let a = &c.augment;
    if a.crop < 1.0 {
        kinds.push(format!("random crop of {:.0}-100%", 100.0 * a.crop));
    }
    if a.shift > 0.0 {
        kinds.push(format!("shift up to {:.0}%", 100.0 * a.shift));
    }
    if a.rotate > 0.0 {
        kinds.push(format!("rotation up to {} degrees", a.rotate));
    }
    if a.brightness > 0.0 || a.contrast > 0.0 {
        kinds.push(format!("brightness ±{} and contrast ±{}", a.brightness, a.contrast));
    }
    if a.erase > 0.0 {
        kinds.push(format!("random erasing (p = {})", a.erase));
    }
    let augmentation = if kinds.is_empty() {
        "none".to_string()
    } else {
        kinds.join("; ")
    };
    let _ = writeln!(md, "| augmentation | {augmentation} |");
    let _ = writeln!(md, "| backend | {} |", c.backend.name());
    if let Some(ms) = mean_ms_per_image(&report.history) {
        let total: f64 = report.history.iter().map(|m| m.seconds).sum();
        let _ = writeln!(
            md,
            "| training time per image | {ms:.1} ms (mean over epochs; forward + backward + update) |"
        );
        let _ = writeln!(md, "| wall time | {total:.0} s |");
    }
    if let Some(b) = report.best {
        let averaged = b
            .averaged
            .map_or(String::new(), |n| format!(", the weight average of {n} epochs"));
        let _ = writeln!(
            md,
            "| evaluated weights | epoch {}{averaged} (best validation: accuracy {:.2}%, loss {:.4}) |",
            b.epoch,
            100.0 * b.val_acc,
            b.val_loss
        );
    }
    for note in &report.notes {
        let _ = writeln!(md, "\nNote: {note}");
    }
    md.push('\n');
    let header: Vec<&str> = Emotion::ALL.iter().map(|e| e.name()).collect();
    for r in &report.results {
        let m = &r.confusion;
        let _ = writeln!(
            md,
            "## {} split, {} ({} images)\n\nAccuracy {}%, mean per-class accuracy {}%, loss {:.4}.\n",
            r.split,
            r.dataset_name(),
            m.total(),
            pct(m.accuracy()),
            pct(m.mean_class_accuracy()),
            r.loss
        );
        let _ = writeln!(md, "| per-class accuracy (%) | {} | mean |", header.join(" | "));
        let _ = writeln!(md, "|---|{}---|", "---|".repeat(NUM_CLASSES));
        let per: Vec<String> = m.per_class().iter().map(|v| pct(*v)).collect();
        let _ = writeln!(
            md,
            "| this run | {} | {} |",
            per.join(" | "),
            pct(m.mean_class_accuracy())
        );
        if let Some((paper, mean)) = r.dataset.and_then(paper_per_class) {
            let p: Vec<String> = paper.iter().map(|v| format!("{v:.2}")).collect();
            let _ = writeln!(md, "| paper | {} | {mean:.2} |", p.join(" | "));
        }
        let totals = m.row_totals();
        let counts: Vec<String> = totals.iter().map(|t| t.to_string()).collect();
        let _ = writeln!(md, "| images | {} | {} |", counts.join(" | "), m.total());
        let _ = writeln!(
            md,
            "\nConfusion matrix (%), rows: true class, columns: predicted, row-normalised:\n"
        );
        let _ = writeln!(md, "| true \\ predicted | {} |", header.join(" | "));
        let _ = writeln!(md, "|---|{}", "---|".repeat(NUM_CLASSES));
        for (i, row) in m.row_normalised().iter().enumerate() {
            let cells: Vec<String> = match row {
                Some(row) => row.iter().map(|v| format!("{:.2}", 100.0 * v)).collect(),
                None => vec!["-".into(); NUM_CLASSES],
            };
            let _ = writeln!(md, "| {} | {} |", Emotion::ALL[i].name(), cells.join(" | "));
        }
        md.push('\n');
    }
    if !report.history.is_empty() {
        let _ = writeln!(md, "## Epochs\n");
        let _ = writeln!(
            md,
            "| epoch | train loss | train acc (%) | val loss | val acc (%) | lr | s | ms/image |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        for h in &report.history {
            let _ = writeln!(
                md,
                "| {} | {:.4} | {:.2} | {:.4} | {:.2} | {:.2e} | {:.1} | {:.1} |",
                h.epoch,
                h.train_loss,
                100.0 * h.train_acc,
                h.val_loss,
                100.0 * h.val_acc,
                h.lr,
                h.seconds,
                h.ms_per_image
            );
        }
        md.push('\n');
    }
    if !report.plots.is_empty() {
        let _ = writeln!(md, "## Plots\n");
        for (title, file) in &report.plots {
            let _ = writeln!(md, "![{title}]({file})\n");
        }
    }
    md
}

/// CSV of one confusion matrix: counts and row-normalised fractions.
pub fn confusion_csv(r: &SplitResult) -> String {
    let mut csv = String::from("split,dataset,true_class,images");
    for e in Emotion::ALL {
        let _ = write!(csv, ",{}", e.name());
    }
    csv.push('\n');
    let totals = r.confusion.row_totals();
    for (i, row) in r.confusion.row_normalised().iter().enumerate() {
        let _ = write!(
            csv,
            "{},{},{},{}",
            r.split,
            r.dataset_name(),
            Emotion::ALL[i].name(),
            totals[i]
        );
        for j in 0..NUM_CLASSES {
            match row {
                Some(row) => {
                    let _ = write!(csv, ",{:.6}", row[j]);
                }
                None => csv.push(','),
            }
        }
        csv.push('\n');
    }
    csv
}

/// CSV of every per-class accuracy of a report.
pub fn per_class_csv(results: &[SplitResult]) -> String {
    let mut csv = String::from("split,dataset,class,images,accuracy\n");
    for r in results {
        let totals = r.confusion.row_totals();
        for (i, acc) in r.confusion.per_class().iter().enumerate() {
            let acc = acc.map_or_else(String::new, |v| format!("{v:.6}"));
            let _ = writeln!(
                csv,
                "{},{},{},{},{}",
                r.split,
                r.dataset_name(),
                Emotion::ALL[i].name(),
                totals[i],
                acc
            );
        }
        let mean = r
            .confusion
            .mean_class_accuracy()
            .map_or_else(String::new, |v| format!("{v:.6}"));
        let _ = writeln!(
            csv,
            "{},{},mean,{},{}",
            r.split,
            r.dataset_name(),
            r.confusion.total(),
            mean
        );
    }
    csv
}

/// Writes `report.md`, `per_class.csv` and `confusion_<split>_<dataset>.csv` into `dir`.
pub fn write(dir: &Path, report: &RunReport) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let md = dir.join("report.md");
    std::fs::write(&md, render_markdown(report))?;
    written.push(md);
    let per = dir.join("per_class.csv");
    std::fs::write(&per, per_class_csv(&report.results))?;
    written.push(per);
    for r in &report.results {
        let path = dir.join(format!("confusion_{}_{}.csv", r.split, r.dataset_name()));
        std::fs::write(&path, confusion_csv(r))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
