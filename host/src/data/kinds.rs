//! What the pipeline names: the datasets it reads, the split protocols, the parts of a split.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::DataError;

/// The four datasets the paper trains and evaluates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
pub enum DatasetKind {
    /// CK+ (the 48x48 "CK+48" cut), class folders.
    #[value(name = "ckplus")]
    CkPlus,
    /// JAFFE, 256x256 whole-head TIFFs, label in the file name.
    #[value(name = "jaffe")]
    Jaffe,
    /// FER2013, class folders of 48x48 JPEGs or the original `fer2013.csv`.
    #[value(name = "fer2013")]
    Fer2013,
    /// RAF-DB basic, aligned 100x100 colour images and a label list.
    #[value(name = "rafdb")]
    RafDb,
    /// FER+: FER2013's faces (lossless PNGs) with ten annotators' votes each.
    #[value(name = "ferplus")]
    FerPlus,
}

impl DatasetKind {
    /// All datasets.
    pub const ALL: [DatasetKind; 5] = [
        DatasetKind::CkPlus,
        DatasetKind::Jaffe,
        DatasetKind::Fer2013,
        DatasetKind::RafDb,
        DatasetKind::FerPlus,
    ];

    /// Stable machine name, used in file names and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            DatasetKind::CkPlus => "ckplus",
            DatasetKind::Jaffe => "jaffe",
            DatasetKind::Fer2013 => "fer2013",
            DatasetKind::RafDb => "rafdb",
            DatasetKind::FerPlus => "ferplus",
        }
    }

    /// Whether the images are already cropped to the face (so the whole image is the box).
    pub const fn pre_cropped(self) -> bool {
        !matches!(self, DatasetKind::Jaffe)
    }

    /// A fixed per-dataset constant mixed into the seed, so each dataset's shuffles are
    /// independent of which other datasets are prepared alongside it.
    pub(crate) const fn seed_salt(self) -> u64 {
        match self {
            DatasetKind::CkPlus => 0x9e37_79b9_7f4a_7c15,
            DatasetKind::Jaffe => 0x6a09_e667_f3bc_c909,
            DatasetKind::Fer2013 => 0xbb67_ae85_84ca_a73b,
            DatasetKind::RafDb => 0x3c6e_f372_fe94_f82b,
            DatasetKind::FerPlus => 0xa54f_f53a_5f1d_36f1,
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "ck+" | "ck" | "ck+48" => "ckplus",
            "fer" => "fer2013",
            "fer+" | "ferplus" => "ferplus",
            "raf-db" | "raf" => "rafdb",
            other => other,
        };
        DatasetKind::ALL.into_iter().find(|k| k.name() == alias).ok_or_else(|| {
            DataError::Config(format!(
                "unknown dataset {s:?} (expected ckplus, jaffe, fer2013, ferplus or rafdb)"
            ))
        })
    }
}

/// How a dataset is divided into train / validation / test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum SplitProtocol {
    /// The paper's: random 4:1 train:test per dataset (stratified by class), then 10% of the
    /// training images for validation. Near-identical frames of one person can land on both
    /// sides, which inflates CK+ and JAFFE accuracy.
    #[default]
    #[value(name = "paper")]
    Paper,
    /// Subject-independent: CK+ grouped by subject, JAFFE by poser (validation grouped too);
    /// FER2013 and RAF-DB use their own official train / test splits.
    #[value(name = "subject")]
    Subject,
}

impl SplitProtocol {
    /// Stable machine name.
    pub const fn name(self) -> &'static str {
        match self {
            SplitProtocol::Paper => "paper",
            SplitProtocol::Subject => "subject",
        }
    }
}

impl fmt::Display for SplitProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SplitProtocol {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "paper" | "random" => Ok(SplitProtocol::Paper),
            "subject" | "subject-independent" => Ok(SplitProtocol::Subject),
            _ => Err(DataError::Config(format!(
                "unknown split protocol {s:?} (expected paper or subject)"
            ))),
        }
    }
}

/// The three parts of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
pub enum SplitName {
    /// Training images (and, after balancing, their noisy copies).
    Train,
    /// Validation images (for learning-rate decay and model selection).
    Val,
    /// Held-out test images.
    Test,
}

impl SplitName {
    /// All three, in file order.
    pub const ALL: [SplitName; 3] = [SplitName::Train, SplitName::Val, SplitName::Test];

    /// Stable machine name.
    pub const fn name(self) -> &'static str {
        match self {
            SplitName::Train => "train",
            SplitName::Val => "val",
            SplitName::Test => "test",
        }
    }
}

impl fmt::Display for SplitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
