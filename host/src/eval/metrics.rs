//! Confusion matrix and the accuracies derived from it, in the paper's class order.
//!
//! Rows are the true class and columns the prediction, as in the paper's Tables 3-4; a row is
//! normalised by its own count, so the diagonal is each class's accuracy (recall). A class with
//! no test image (CK+48 has no neutral) has no accuracy rather than a misleading 0.

use serde::{Deserialize, Serialize};
use shared::NUM_CLASSES;

/// Counts of (true class, predicted class) pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// `counts[true][predicted]`.
    pub counts: [[u64; NUM_CLASSES]; NUM_CLASSES],
}

impl ConfusionMatrix {
    /// An empty matrix.
    pub fn new() -> Self {
        Self::default()
    }

    /// A matrix from parallel label and prediction lists (indices >= 7 are ignored).
    pub fn from_predictions(labels: &[u8], predictions: &[u8]) -> Self {
        let mut m = Self::new();
        for (&t, &p) in labels.iter().zip(predictions) {
            m.add(t as usize, p as usize);
        }
        m
    }

    /// Counts one prediction.
    pub fn add(&mut self, truth: usize, predicted: usize) {
        if truth < NUM_CLASSES && predicted < NUM_CLASSES {
            self.counts[truth][predicted] += 1;
        }
    }

    /// Images of each true class.
    pub fn row_totals(&self) -> [u64; NUM_CLASSES] {
        self.counts.map(|row| row.iter().sum())
    }

    /// All counted images.
    pub fn total(&self) -> u64 {
        self.row_totals().iter().sum()
    }

    /// Correct predictions.
    pub fn correct(&self) -> u64 {
        (0..NUM_CLASSES).map(|i| self.counts[i][i]).sum()
    }

    /// Overall accuracy (0..1), `None` when empty.
    pub fn accuracy(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.correct() as f64 / total as f64)
    }

    /// Per-class accuracy (recall, 0..1); `None` for a class with no image.
    pub fn per_class(&self) -> [Option<f64>; NUM_CLASSES] {
        let totals = self.row_totals();
        core::array::from_fn(|i| (totals[i] > 0).then(|| self.counts[i][i] as f64 / totals[i] as f64))
    }

    /// Mean of the per-class accuracies over the classes present (the paper's "mean").
    pub fn mean_class_accuracy(&self) -> Option<f64> {
        let present: Vec<f64> = self.per_class().into_iter().flatten().collect();
        (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
    }

    /// Row-normalised matrix (each row sums to 1); `None` rows for absent classes.
    pub fn row_normalised(&self) -> [Option<[f64; NUM_CLASSES]>; NUM_CLASSES] {
        let totals = self.row_totals();
        core::array::from_fn(|i| {
            (totals[i] > 0).then(|| core::array::from_fn(|j| self.counts[i][j] as f64 / totals[i] as f64))
        })
    }

    /// Adds another matrix's counts.
    pub fn merge(&mut self, other: &ConfusionMatrix) {
        for i in 0..NUM_CLASSES {
            for j in 0..NUM_CLASSES {
                self.counts[i][j] += other.counts[i][j];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracies_and_normalisation() {
        // Class 0: 3 images, 2 right; class 3: 1 image, right; class 4 absent.
        let m = ConfusionMatrix::from_predictions(&[0, 0, 0, 3], &[0, 0, 6, 3]);
        assert_eq!(m.total(), 4);
        assert_eq!(m.correct(), 3);
        assert_eq!(m.accuracy(), Some(0.75));
        let per = m.per_class();
        assert!((per[0].unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(per[3], Some(1.0));
        assert_eq!(per[4], None);
        assert!((m.mean_class_accuracy().unwrap() - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        let rows = m.row_normalised();
        let r0 = rows[0].unwrap();
        assert!((r0.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((r0[6] - 1.0 / 3.0).abs() < 1e-12);
        assert!(rows[4].is_none());
    }

    #[test]
    fn empty_matrix_has_no_accuracy() {
        let m = ConfusionMatrix::new();
        assert_eq!(m.accuracy(), None);
        assert_eq!(m.mean_class_accuracy(), None);
        let mut a = ConfusionMatrix::from_predictions(&[1], &[1]);
        a.merge(&ConfusionMatrix::from_predictions(&[1, 2], &[2, 2]));
        assert_eq!(a.counts[1], [0, 1, 1, 0, 0, 0, 0]);
        assert_eq!(a.correct(), 2);
        // Out-of-range indices are ignored, not a panic.
        a.add(9, 0);
        assert_eq!(a.total(), 3);
    }
}
