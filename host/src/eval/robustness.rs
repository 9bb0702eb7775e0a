//! How an exported classifier holds up when the camera's picture degrades: its accuracy on
//! clean test faces and on the same faces degraded as a car camera degrades them
//! ([`crate::enhance::degrade`], the enhancer's fixed evaluation draw), through the edge's
//! preparation (learned enhancer when there is one, the recipe's classical enhancement,
//! scaling) and the int8 model in tract.
//!
//! This is the ablation that decides whether the learned enhancer belongs in front of a
//! classifier: the same faces, the same degradations, one table per preparation. A face's
//! degradation is drawn from its position in the face list ([`EvalSet`]), so one face list
//! gives every model the same degraded faces, and the enhancer's own test table (PSNR per
//! kind) describes the same pictures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use artifacts::enhancer::Enhancer;
use rayon::prelude::*;
use shared::GrayImage;
use shared::preprocess::{Enhancement, Preprocessing};
use shared::wire::ModelManifest;

use crate::data::faces::LearnedEnhancer;
use crate::data::{
    BalanceConfig, ClassicalEnhancer, DataError, DataSelection, DatasetKind, FaceEnhancer, PrepareConfig, Sample,
};
use crate::enhance::degrade::Degradation;
use crate::enhance::eval::EvalSet;
use crate::export::{ExportError, TractRunner, parity::argmax};

/// The clean (unenhanced) 48x48 crops of `datasets` under the split `manifest`'s model was
/// trained and tested on (its protocol and seed), without balancing copies.
pub fn clean_faces(
    manifest: &ModelManifest,
    datasets: Vec<DatasetKind>,
    data_root: PathBuf,
    cache_dir: PathBuf,
) -> Result<PrepareConfig, DataError> {
    Ok(PrepareConfig {
        data: DataSelection {
            data_root,
            datasets,
            protocol: manifest.split,
            cache_dir,
            seed: manifest.seed,
            preprocessing: Preprocessing {
                enhancement: Enhancement::None,
                ..manifest.preprocessing
            },
            balance: BalanceConfig::off(),
            enhancer: None,
        },
        ..PrepareConfig::default()
    })
}

/// How a 48x48 crop becomes the classifier's input: the training pipeline's enhancer
/// ([`crate::data::ClassicalEnhancer`], or a [`crate::data::faces::LearnedEnhancer`] and then
/// the classical one), then the recipe's scaling.
#[derive(Clone, Copy)]
pub struct Preparation<'a> {
    /// The enhancement of the crop.
    pub enhancer: &'a dyn FaceEnhancer,
    /// The model's recipe (its scaling is applied here).
    pub preprocessing: Preprocessing,
}

impl Preparation<'_> {
    /// The network input of a cropped face.
    pub fn input(&self, crop: &[u8]) -> Result<Vec<f32>, RobustnessError> {
        let side = shared::INPUT_SIZE as u32;
        let face = GrayImage::from_raw(side, side, crop.to_vec()).map_err(|_| RobustnessError::FaceSize(crop.len()))?;
        Ok(self.preprocessing.normalize(&self.enhancer.enhance(&face)?))
    }
}

/// The enhancement `manifest`'s model (the ONNX file at `model`) runs its crops through: its
/// learned enhancer, named in the manifest and kept beside the model, then its classical
/// enhancement; the classical one alone for a model without a learned enhancer.
pub fn model_enhancer(
    model: &Path,
    manifest: &ModelManifest,
) -> Result<Box<dyn FaceEnhancer>, artifacts::manifest::ManifestError> {
    let then = manifest.preprocessing.enhancement;
    Ok(match &manifest.enhancer {
        None => Box::new(ClassicalEnhancer(then)),
        Some(named) => Box::new(LearnedEnhancer::new(Enhancer::load_for(model, named)?, then)),
    })
}

/// What can stop a measurement.
#[derive(Debug, thiserror::Error)]
pub enum RobustnessError {
    /// A cached face is not 48x48.
    #[error("a face of {0} pixels, expected 48x48")]
    FaceSize(usize),
    /// The learned enhancer failed.
    #[error(transparent)]
    Enhance(#[from] artifacts::enhancer::EnhanceError),
    /// The classifier failed.
    #[error(transparent)]
    Classify(#[from] ExportError),
}

/// Right answers out of a number of faces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Faces classified right.
    pub right: usize,
    /// Faces counted.
    pub total: usize,
}

impl Tally {
    fn add(&mut self, right: bool) {
        self.right += usize::from(right);
        self.total += 1;
    }

    /// Accuracy in percent, `None` without faces.
    pub fn percent(self) -> Option<f64> {
        (self.total > 0).then(|| 100.0 * self.right as f64 / self.total as f64)
    }
}

/// One dataset's accuracy, clean and degraded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRobustness {
    /// The dataset.
    pub dataset: DatasetKind,
    /// On the clean faces.
    pub clean: Tally,
    /// On their degraded copies.
    pub degraded: Tally,
    /// On the degraded copies, per kind ([`Degradation::ALL`] order; a face with two kinds
    /// counts in both).
    pub by_kind: [Tally; Degradation::ALL.len()],
}

/// Classifies every face of `faces` (clean and degraded copies, in `set`'s order) whose
/// dataset is in `only` (all when empty), faces in parallel.
pub fn measure(
    runner: &TractRunner,
    preparation: Preparation<'_>,
    faces: &[Sample],
    set: &EvalSet,
    only: &[DatasetKind],
) -> Result<Vec<DatasetRobustness>, RobustnessError> {
    assert_eq!(faces.len(), set.clean.len(), "one degraded copy per face");
    let wanted: Vec<usize> = (0..faces.len())
        .filter(|&i| only.is_empty() || only.contains(&faces[i].dataset))
        .collect();
    let classify =
        |crop: &[u8]| -> Result<usize, RobustnessError> { Ok(argmax(&runner.logits(&preparation.input(crop)?)?)) };
    let answers: Vec<(usize, usize, usize)> = wanted
        .par_iter()
        .map(|&i| Ok((i, classify(&set.clean[i])?, classify(&set.degraded[i])?)))
        .collect::<Result<_, RobustnessError>>()?;
    let mut out: Vec<DatasetRobustness> = Vec::new();
    for (i, clean, degraded) in answers {
        let sample = &faces[i];
        let row = match out.iter().position(|r| r.dataset == sample.dataset) {
            Some(p) => &mut out[p],
            None => {
                out.push(DatasetRobustness {
                    dataset: sample.dataset,
                    clean: Tally::default(),
                    degraded: Tally::default(),
                    by_kind: [Tally::default(); Degradation::ALL.len()],
                });
                out.last_mut().expect("just pushed")
            }
        };
        let truth = sample.label.index();
        row.clean.add(clean == truth);
        row.degraded.add(degraded == truth);
        for kind in &set.kinds[i] {
            let k = Degradation::ALL
                .iter()
                .position(|d| d == kind)
                .expect("every kind is in ALL");
            row.by_kind[k].add(degraded == truth);
        }
    }
    Ok(out)
}

/// A Markdown table: one column per dataset, rows clean, degraded and each kind.
pub fn table(rows: &[DatasetRobustness]) -> String {
    let cell = |t: Tally| match t.percent() {
        Some(p) => format!("{p:.2}% of {}", t.total),
        None => "-".to_string(),
    };
    let mut s = String::from("| faces |");
    for r in rows {
        let _ = write!(s, " {} |", r.dataset.name());
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(rows.len()));
    s.push('\n');
    let mut line = |name: &str, pick: &dyn Fn(&DatasetRobustness) -> Tally| {
        let _ = write!(s, "| {name} |");
        for r in rows {
            let _ = write!(s, " {} |", cell(pick(r)));
        }
        s.push('\n');
    };
    line("clean", &|r| r.clean);
    line("degraded", &|r| r.degraded);
    for (k, kind) in Degradation::ALL.iter().enumerate() {
        line(&format!("degraded: {}", kind.name()), &|r| r.by_kind[k]);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_count_right_answers_and_say_nothing_without_faces() {
        let mut t = Tally::default();
        assert_eq!(t.percent(), None);
        t.add(true);
        t.add(false);
        t.add(true);
        t.add(true);
        assert_eq!(t, Tally { right: 3, total: 4 });
        assert_eq!(t.percent(), Some(75.0));
    }

    #[test]
    fn the_table_has_a_row_per_kind_and_a_column_per_dataset() {
        let mut by_kind = [Tally::default(); Degradation::ALL.len()];
        by_kind[1] = Tally { right: 1, total: 2 };
        let rows = vec![DatasetRobustness {
            dataset: DatasetKind::Jaffe,
            clean: Tally { right: 2, total: 2 },
            degraded: Tally { right: 1, total: 2 },
            by_kind,
        }];
        let t = table(&rows);
        assert!(t.starts_with("| faces | jaffe |\n|---|---:|\n"), "{t}");
        assert!(t.contains("| clean | 100.00% of 2 |"), "{t}");
        assert!(t.contains("| degraded: haze | 50.00% of 2 |"), "{t}");
        assert!(t.contains("| degraded: motion | - |"), "{t}");
        assert_eq!(t.lines().count(), 2 + 2 + Degradation::ALL.len());
    }

    #[test]
    fn without_an_enhancer_the_preparation_is_the_classical_one() {
        let crop: Vec<u8> = (0..48 * 48).map(|i| (i % 251) as u8).collect();
        let preprocessing = Preprocessing {
            enhancement: Enhancement::None,
            ..Preprocessing::default()
        };
        let norm = preprocessing.normalization;
        let prep = Preparation {
            enhancer: &crate::data::ClassicalEnhancer(Enhancement::None),
            preprocessing,
        };
        let input = prep.input(&crop).unwrap();
        assert_eq!(input.len(), crop.len());
        assert!(input.iter().zip(&crop).all(|(&x, &p)| x == norm.apply(p)));
        assert!(matches!(prep.input(&crop[1..]), Err(RobustnessError::FaceSize(_))));
    }
}
