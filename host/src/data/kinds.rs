//! What the pipeline names: the datasets it reads, the split protocols, the parts of a split.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use shared::dataset::{DatasetKind, SplitProtocol};

/// A fixed per-dataset constant mixed into the seed, so each dataset's shuffles are
/// independent of which other datasets are prepared alongside it.
pub(crate) const fn seed_salt(kind: DatasetKind) -> u64 {
    match kind {
        DatasetKind::CkPlus => 0x9e37_79b9_7f4a_7c15,
        DatasetKind::Jaffe => 0x6a09_e667_f3bc_c909,
        DatasetKind::Fer2013 => 0xbb67_ae85_84ca_a73b,
        DatasetKind::RafDb => 0x3c6e_f372_fe94_f82b,
        DatasetKind::FerPlus => 0xa54f_f53a_5f1d_36f1,
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
