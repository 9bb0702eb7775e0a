//! Prepared samples as network inputs, converted once.
//!
//! Why convert up front: the training loop then only gathers `f32` rows into a batch buffer,
//! so data loading costs microseconds per batch and never competes with the backward pass for
//! the two cores.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use shared::preprocess::Normalization;

use super::config::LabelMode;
use crate::data::{DatasetKind, Sample};

/// A split's images as normalised `f32`s with their labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageSet {
    /// `len * per_image` values, image after image (`[c, h, w]` each, c = 1).
    pub inputs: Vec<f32>,
    /// Class index per image.
    pub labels: Vec<u8>,
    /// Source dataset per image (for per-dataset evaluation).
    pub datasets: Vec<DatasetKind>,
    /// Annotator votes per image and class (all zero where the dataset has none).
    pub votes: Vec<[u8; shared::NUM_CLASSES]>,
    /// Values per image.
    pub per_image: usize,
}

impl ImageSet {
    /// Converts samples with the shared normalisation (`pixel * scale + offset`).
    pub fn from_samples(samples: &[Sample], norm: Normalization, per_image: usize) -> Self {
        let mut inputs = Vec::with_capacity(samples.len() * per_image);
        for s in samples {
            // Rows stay aligned even for a sample of the wrong size (the data pipeline only
            // makes 48x48 samples): extra pixels are cut, missing ones are 0.
            let start = inputs.len();
            inputs.extend(s.pixels.iter().take(per_image).map(|&p| norm.apply(p)));
            inputs.resize(start + per_image, 0.0);
        }
        ImageSet {
            inputs,
            labels: samples.iter().map(|s| s.label.index() as u8).collect(),
            datasets: samples.iter().map(|s| s.dataset).collect(),
            votes: samples.iter().map(|s| s.votes.unwrap_or_default()).collect(),
            per_image,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Keeps the first `n` images.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.inputs.truncate(n * self.per_image);
            self.labels.truncate(n);
            self.datasets.truncate(n);
            self.votes.truncate(n);
        }
    }

    /// Gathers the images at `indices` into `inputs` and `labels` (cleared first).
    pub fn gather(&self, indices: &[usize], inputs: &mut Vec<f32>, labels: &mut Vec<i64>) {
        inputs.clear();
        labels.clear();
        for &i in indices {
            inputs.extend_from_slice(&self.inputs[i * self.per_image..(i + 1) * self.per_image]);
            labels.push(i64::from(self.labels[i]));
        }
    }

    /// The training targets of the images at `indices`, `NUM_CLASSES` values each (cleared
    /// first): one-hot labels, or under [`LabelMode::Probability`] the normalised votes where an
    /// image has any; then label smoothing, `(1 - smoothing) * t + smoothing / classes`.
    pub fn gather_targets(&self, indices: &[usize], mode: LabelMode, smoothing: f32, targets: &mut Vec<f32>) {
        const K: usize = shared::NUM_CLASSES;
        targets.clear();
        for &i in indices {
            let start = targets.len();
            targets.resize(start + K, 0.0);
            let row = &mut targets[start..];
            let votes = self.votes.get(i).copied().unwrap_or_default();
            let total: u32 = votes.iter().map(|&v| u32::from(v)).sum();
            if mode == LabelMode::Probability && total > 0 {
                for (t, &v) in row.iter_mut().zip(&votes) {
                    *t = f32::from(v) / total as f32;
                }
            } else {
                row[usize::from(self.labels[i])] = 1.0;
            }
            if smoothing > 0.0 {
                for t in row.iter_mut() {
                    *t = (1.0 - smoothing) * *t + smoothing / K as f32;
                }
            }
        }
    }

    /// Mirrors, left to right, the images of a gathered batch (`[c, h, w]` rows of `width`
    /// values) for which `flip` yields true.
    pub fn mirror(inputs: &mut [f32], per_image: usize, width: usize, mut flip: impl FnMut() -> bool) {
        if per_image == 0 || width == 0 {
            return;
        }
        for image in inputs.chunks_exact_mut(per_image) {
            if flip() {
                image.chunks_exact_mut(width).for_each(<[f32]>::reverse);
            }
        }
    }

    /// A shuffled order of all images.
    pub fn shuffled(&self, rng: &mut ChaCha8Rng) -> Vec<usize> {
        self.shuffled_repeated(rng, |_| 1)
    }

    /// A shuffled order in which each image appears `times(its dataset)` times (at least
    /// once). With every count 1 it is [`Self::shuffled`]'s order, draw for draw.
    pub fn shuffled_repeated(&self, rng: &mut ChaCha8Rng, times: impl Fn(DatasetKind) -> usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        for (i, &dataset) in self.datasets.iter().enumerate() {
            order.extend(std::iter::repeat_n(i, times(dataset).max(1) - 1));
        }
        order.shuffle(rng);
        order
    }

    /// The datasets present, in [`DatasetKind`] order.
    pub fn dataset_kinds(&self) -> Vec<DatasetKind> {
        let mut kinds = self.datasets.clone();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// Per dataset present (in [`DatasetKind`] order): how many of its images `predictions`
    /// (one class per image) get right, and how many it has.
    pub fn hits_by_dataset(&self, predictions: &[u8]) -> Vec<(DatasetKind, usize, usize)> {
        self.dataset_kinds()
            .into_iter()
            .map(|kind| {
                let (mut right, mut all) = (0, 0);
                for ((&d, &p), &t) in self.datasets.iter().zip(predictions).zip(&self.labels) {
                    if d == kind {
                        all += 1;
                        right += usize::from(p == t);
                    }
                }
                (kind, right, all)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use shared::Emotion;

    use super::*;

    fn sample(value: u8, label: Emotion) -> Sample {
        Sample {
            pixels: vec![value; 4],
            label,
            dataset: DatasetKind::CkPlus,
            subject: "S1".into(),
            source: "x.png".into(),
            augmented: false,
            votes: None,
        }
    }

    #[test]
    fn hits_are_counted_per_dataset_in_kind_order() {
        let set = ImageSet {
            labels: vec![1, 2, 3, 4],
            datasets: vec![
                DatasetKind::Jaffe,
                DatasetKind::CkPlus,
                DatasetKind::Jaffe,
                DatasetKind::Jaffe,
            ],
            ..ImageSet::default()
        };
        assert_eq!(
            set.hits_by_dataset(&[1, 0, 3, 0]),
            [(DatasetKind::CkPlus, 0, 1), (DatasetKind::Jaffe, 2, 3)]
        );
    }

    #[test]
    fn targets_follow_votes_under_probability_and_smooth() {
        let mut voted = sample(10, Emotion::Angry);
        voted.votes = Some([6, 0, 0, 0, 2, 2, 0]);
        let set = ImageSet::from_samples(&[voted, sample(0, Emotion::Happy)], Normalization::default(), 4);
        let mut t = Vec::new();
        set.gather_targets(&[0, 1], LabelMode::Probability, 0.0, &mut t);
        assert_eq!(t, [0.6, 0., 0., 0., 0.2, 0.2, 0., 0., 0., 0., 1., 0., 0., 0.]);
        set.gather_targets(&[0], LabelMode::Majority, 0.0, &mut t);
        assert_eq!(t, [1., 0., 0., 0., 0., 0., 0.]);
        set.gather_targets(&[0], LabelMode::Majority, 0.7, &mut t);
        assert!((t[0] - 0.4).abs() < 1e-6 && (t[1] - 0.1).abs() < 1e-6);
        assert!((t.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn mirrors_only_the_chosen_images_row_by_row() {
        // Two 2x3 images.
        let mut x = [1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12.];
        let mut choices = [true, false].into_iter();
        ImageSet::mirror(&mut x, 6, 3, || choices.next().unwrap());
        assert_eq!(x, [3., 2., 1., 6., 5., 4., 7., 8., 9., 10., 11., 12.]);
    }

    #[test]
    fn converts_with_the_shared_normalisation_and_gathers_rows() {
        let samples = [
            sample(0, Emotion::Angry),
            sample(255, Emotion::Happy),
            sample(51, Emotion::Sad),
        ];
        let set = ImageSet::from_samples(&samples, Normalization::default(), 4);
        assert_eq!(set.len(), 3);
        assert_eq!(set.labels, [0, 3, 5]);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        set.gather(&[2, 1], &mut x, &mut y);
        assert_eq!(y, [5, 3]);
        assert!((x[0] - 0.2).abs() < 1e-6 && (x[4] - 1.0).abs() < 1e-6);
        assert_eq!(x.len(), 8);
        let mut t = Vec::new();
        set.gather_targets(&[1], LabelMode::Probability, 0.0, &mut t);
        assert_eq!(t, [0., 0., 0., 1., 0., 0., 0.]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut order = set.shuffled(&mut rng);
        order.sort();
        assert_eq!(order, [0, 1, 2]);
    }

    #[test]
    fn repeats_oversample_by_dataset_and_keep_the_plain_order_otherwise() {
        let samples = [
            sample(0, Emotion::Angry),
            sample(1, Emotion::Happy),
            sample(2, Emotion::Sad),
        ];
        let mut set = ImageSet::from_samples(&samples, Normalization::default(), 4);
        set.datasets = vec![DatasetKind::FerPlus, DatasetKind::CkPlus, DatasetKind::FerPlus];
        let plain = set.shuffled(&mut ChaCha8Rng::seed_from_u64(7));
        assert_eq!(set.shuffled_repeated(&mut ChaCha8Rng::seed_from_u64(7), |_| 1), plain);
        let times = |d| if d == DatasetKind::CkPlus { 3 } else { 0 };
        let mut order = set.shuffled_repeated(&mut ChaCha8Rng::seed_from_u64(7), times);
        order.sort();
        assert_eq!(order, [0, 1, 1, 1, 2]);
    }
}
