//! fp32 vs int8 on labelled images: each model's accuracy and how often their top-1 agree —
//! the figures that decide whether the int8 model may replace the fp32 one.

use super::{ExportError, TractRunner};

/// Accuracy of both models and their agreement on one image set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parity {
    /// Images compared.
    pub images: usize,
    /// fp32 top-1 accuracy.
    pub fp32_accuracy: f64,
    /// int8 top-1 accuracy.
    pub int8_accuracy: f64,
    /// Share of images where both predict the same class.
    pub top1_agreement: f64,
    /// Largest absolute logit difference seen.
    pub max_logit_diff: f32,
}

impl Parity {
    /// One row of `host export`'s Markdown parity table (set, images, fp32, int8, agreement,
    /// largest logit difference).
    pub fn table_row(&self, set: &str) -> String {
        format!(
            "| {set} | {} | {:.2}% | {:.2}% | {:.2}% | {:.3} |",
            self.images,
            100.0 * self.fp32_accuracy,
            100.0 * self.int8_accuracy,
            100.0 * self.top1_agreement,
            self.max_logit_diff
        )
    }
}

/// Index of the largest value (first on ties).
pub fn argmax(values: &[f32]) -> usize {
    (0..values.len()).fold(0, |best, i| if values[i] > values[best] { i } else { best })
}

/// Which of several int8 candidates (each compared with the same fp32 model on the same
/// images) to keep: the highest top-1 agreement, the last of equals (candidates come in
/// order of more calibration data). `None` for no candidates.
pub fn most_agreeing(candidates: &[Parity]) -> Option<usize> {
    (0..candidates.len()).reduce(|best, i| {
        if candidates[i].top1_agreement >= candidates[best].top1_agreement {
            i
        } else {
            best
        }
    })
}

/// Runs both models on every input.
pub fn compare(
    fp32: &TractRunner,
    int8: &TractRunner,
    inputs: &[Vec<f32>],
    labels: &[usize],
) -> Result<Parity, ExportError> {
    let (mut fp32_ok, mut int8_ok, mut agree, mut max_diff) = (0usize, 0usize, 0usize, 0f32);
    for (input, &label) in inputs.iter().zip(labels) {
        let a = fp32.logits(input)?;
        let b = int8.logits(input)?;
        let (pa, pb) = (argmax(&a), argmax(&b));
        fp32_ok += usize::from(pa == label);
        int8_ok += usize::from(pb == label);
        agree += usize::from(pa == pb);
        max_diff = a.iter().zip(&b).fold(max_diff, |m, (x, y)| m.max((x - y).abs()));
    }
    let n = inputs.len().max(1) as f64;
    Ok(Parity {
        images: inputs.len(),
        fp32_accuracy: fp32_ok as f64 / n,
        int8_accuracy: int8_ok as f64 / n,
        top1_agreement: agree as f64 / n,
        max_logit_diff: max_diff,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_give_percentages_and_the_largest_logit_difference() {
        let p = Parity {
            images: 2664,
            fp32_accuracy: 0.827,
            int8_accuracy: 0.82512,
            top1_agreement: 0.991366,
            max_logit_diff: 0.2844,
        };
        assert_eq!(p.table_row("val"), "| val | 2664 | 82.70% | 82.51% | 99.14% | 0.284 |");
        assert_eq!(argmax(&[0.1, 0.7, 0.7, -1.0]), 1, "first of the ties");
    }

    #[test]
    fn the_most_agreeing_candidate_is_kept_and_the_last_of_equals() {
        let with = |top1_agreement| Parity {
            images: 10,
            fp32_accuracy: 0.8,
            int8_accuracy: 0.8,
            top1_agreement,
            max_logit_diff: 0.1,
        };
        assert_eq!(most_agreeing(&[with(0.99), with(0.995), with(0.993)]), Some(1));
        assert_eq!(most_agreeing(&[with(0.99), with(0.995), with(0.995)]), Some(2));
        assert_eq!(most_agreeing(&[with(0.99)]), Some(0));
        assert_eq!(most_agreeing(&[]), None);
    }
}
