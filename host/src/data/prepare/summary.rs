//! The Markdown summary `host prepare` prints for each dataset: counts per class and split,
//! the cleaning and balancing it did, and what was skipped and why.

use std::fmt::Write as _;

use shared::Emotion;

use super::DatasetReport;
use crate::data::PrepareConfig;
use crate::data::faces::FaceEnhancer;

/// The Markdown summary of one dataset: counts per class and split, and what was skipped.
pub fn render_summary(report: &DatasetReport, config: &PrepareConfig, enhancer: &dyn FaceEnhancer) -> String {
    let mut md = String::new();
    let protocol = config.data.protocol;
    let _ = writeln!(md, "## {} — {} split\n", report.kind, protocol);
    let _ = writeln!(
        md,
        "Source `{}`; seed {}; enhancement `{}`; balance factor {} (noise std {:.3}); contempt {:?}.\n",
        report.dir.display(),
        config.data.seed,
        enhancer.id(),
        config.data.balance.factor,
        config.data.balance.noise_std,
        config.contempt
    );
    let official = report.listed_official;
    let mut columns = vec!["listed"];
    if official.is_some() {
        columns.extend(["official train", "official test"]);
    }
    columns.extend(["train", "+ noisy", "val", "test", "kept"]);
    let _ = writeln!(md, "| class | {} |", columns.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(columns.len()));
    let mut totals = vec![0usize; columns.len()];
    for e in Emotion::ALL {
        let i = e.index();
        let [train, val, test] = [report.originals[0][i], report.originals[1][i], report.originals[2][i]];
        let mut row = vec![report.listed[i]];
        if let Some(o) = official {
            row.extend([o[0][i], o[1][i]]);
        }
        row.extend([train, report.augmented[i], val, test, train + val + test]);
        if row.iter().all(|&n| n == 0) {
            continue;
        }
        for (t, n) in totals.iter_mut().zip(&row) {
            *t += n;
        }
        let cells: Vec<String> = row.iter().map(usize::to_string).collect();
        let _ = writeln!(md, "| {} | {} |", e.name(), cells.join(" | "));
    }
    let cells: Vec<String> = totals.iter().map(usize::to_string).collect();
    let _ = writeln!(md, "| **total** | {} |\n", cells.join(" | "));
    let _ = writeln!(
        md,
        "*listed*: labelled images found{}; *train / val / test*: originals after cleaning; *+ noisy*: \
         Gaussian-noise copies added to train; *kept*: train + val + test originals.\n",
        if official.is_some() {
            " (and per official split)"
        } else {
            ""
        }
    );
    let counts = report.skip_counts();
    if counts.is_empty() {
        let _ = writeln!(md, "Nothing skipped.");
    } else {
        let _ = writeln!(md, "| skipped because | count | first example |");
        let _ = writeln!(md, "|---|---:|---|");
        for (reason, n) in counts {
            let example = report
                .skipped
                .iter()
                .find(|s| s.reason == reason)
                .map(|s| format!("`{}`: {}", s.path, s.detail))
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                reason.describe(),
                n,
                example.replace('|', "\\|")
            );
        }
    }
    md
}
