//! A prepared face and the train / validation / test parts of a dataset.

use serde::{Deserialize, Serialize};
use shared::Emotion;

use super::{DatasetKind, SplitName};

/// One prepared image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// 48x48 preprocessed grey pixels, row-major.
    pub pixels: Vec<u8>,
    /// The paper's class.
    pub label: Emotion,
    /// Which dataset it came from.
    pub dataset: DatasetKind,
    /// Who is pictured: CK+ `S010`, JAFFE poser `KA`; the file name where the dataset has no
    /// subject ids (FER2013, RAF-DB).
    pub subject: String,
    /// The source file name (or `fer2013.csv#row<N>`); a noisy copy keeps its original's.
    pub source: String,
    /// True for a Gaussian-noise copy made by balancing.
    pub augmented: bool,
    /// Annotator votes per class, in [`Emotion::ALL`] order, where the dataset has them
    /// (FER+): the trainer's soft targets under `LabelMode::Probability`.
    pub votes: Option<[u8; shared::NUM_CLASSES]>,
}

/// Train / validation / test samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Splits {
    /// Training samples (balanced: may contain augmented copies).
    pub train: Vec<Sample>,
    /// Validation samples (never augmented).
    pub val: Vec<Sample>,
    /// Test samples (never augmented).
    pub test: Vec<Sample>,
}

impl Splits {
    /// The samples of one part.
    pub fn part(&self, name: SplitName) -> &[Sample] {
        match name {
            SplitName::Train => &self.train,
            SplitName::Val => &self.val,
            SplitName::Test => &self.test,
        }
    }

    /// Mutable access to one part.
    pub fn part_mut(&mut self, name: SplitName) -> &mut Vec<Sample> {
        match name {
            SplitName::Train => &mut self.train,
            SplitName::Val => &mut self.val,
            SplitName::Test => &mut self.test,
        }
    }

    /// Appends another dataset's splits (several datasets are split separately, then joined).
    pub fn extend(&mut self, other: Splits) {
        self.train.extend(other.train);
        self.val.extend(other.val);
        self.test.extend(other.test);
    }

    /// Counts per class: `[split][class index]`.
    pub fn class_counts(&self) -> [[usize; shared::NUM_CLASSES]; 3] {
        let mut counts = [[0; shared::NUM_CLASSES]; 3];
        for (i, name) in SplitName::ALL.into_iter().enumerate() {
            for s in self.part(name) {
                counts[i][s.label.index()] += 1;
            }
        }
        counts
    }
}
