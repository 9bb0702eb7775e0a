//! Every training choice, with the paper's regime as the defaults and the named recipes
//! ([`Recipe`]), in one place.
//!
//! The configuration is stored in each checkpoint so `host eval` and `--resume` see the run
//! exactly as it was started (same data, split protocol and seed).

use std::path::PathBuf;

use super::augment::{AugmentError, Augmentation};
use super::schedule::{Schedule, ScheduleKind};
use crate::data::{BalanceConfig, DataError, DataSelection, DatasetKind, PrepareConfig, SplitProtocol};
use serde::{Deserialize, Serialize};

/// The paper's batch size (Table 2).
pub const PAPER_BATCH_SIZE: usize = 64;
/// The paper's number of epochs (Table 2).
pub const PAPER_EPOCHS: usize = 30;
/// The paper's learning rate (Table 2).
pub const PAPER_LR: f64 = 1e-3;

/// Which compute backend trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum BackendKind {
    /// burn's pure-Rust CPU backend.
    #[default]
    #[value(name = "flex")]
    Flex,
    /// wgpu (Vulkan / Metal / DX12), with the `wgpu` cargo feature.
    #[value(name = "wgpu")]
    Wgpu,
    /// CUDA, with the `cuda` cargo feature.
    #[value(name = "cuda")]
    Cuda,
}

impl BackendKind {
    /// Stable machine name.
    pub const fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }
}

/// What a training image's target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum LabelMode {
    /// One-hot of the image's label (for FER+: its majority label).
    #[default]
    #[value(name = "majority")]
    Majority,
    /// The annotators' vote distribution over the seven classes where the dataset has votes
    /// (FER+'s "probability" protocol), one-hot elsewhere.
    #[value(name = "probability")]
    Probability,
}

/// Which optimiser updates the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum OptimizerKind {
    /// Adam (the paper's), with L2 weight decay when `weight_decay` > 0.
    #[default]
    #[value(name = "adam")]
    Adam,
    /// AdamW: Adam with decoupled weight decay.
    #[value(name = "adamw")]
    AdamW,
    /// SGD with Nesterov momentum and L2 weight decay.
    #[value(name = "sgd")]
    Sgd,
}

/// The optimiser and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// Which one.
    pub kind: OptimizerKind,
    /// Weight decay (0: none).
    pub weight_decay: f64,
    /// SGD momentum (Nesterov).
    pub momentum: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            kind: OptimizerKind::Adam,
            weight_decay: 0.0,
            momentum: 0.9,
        }
    }
}

/// Oversampling of one dataset in a mix (`--repeat ckplus=4`): each of its training images
/// appears `times` times in every epoch's shuffled order, each appearance mirrored and
/// augmented on its own draw. Small posed sets (CK+, JAFFE) are ~3% of a FER+ mix; repeating
/// them weighs their people and expressions without copying pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetRepeat {
    /// The dataset.
    pub dataset: DatasetKind,
    /// Appearances per epoch (1: no oversampling).
    pub times: u32,
}

/// A training setting that cannot work, naming the value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No dataset to train on.
    #[error("no dataset selected")]
    NoDataset,
    /// FER2013 and FER+ together: the same faces under two names.
    #[error(
        "fer2013 and ferplus hold the same faces (JPEG with the original labels, PNG with the \
         FER+ votes): train on one of them; each is split on its own, so together the faces of \
         one's validation and test parts would be training faces of the other"
    )]
    SameFacesTwice,
    /// No epoch or an empty batch.
    #[error("epochs ({epochs}) and batch size ({batch_size}) must be at least 1")]
    Zero {
        /// Epochs asked for.
        epochs: usize,
        /// Batch size asked for.
        batch_size: usize,
    },
    /// A learning rate that is not a positive number.
    #[error("learning rate {0} must be positive")]
    LearningRate(f64),
    /// An augmentation setting out of range.
    #[error(transparent)]
    Augment(#[from] AugmentError),
    /// Label smoothing outside 0..1.
    #[error("label smoothing {0} must lie in 0..1")]
    LabelSmoothing(f32),
    /// A negative or non-finite mixup alpha.
    #[error("mixup alpha {0} must be a number >= 0")]
    Mixup(f32),
    /// Negative weight decay or momentum outside 0..1.
    #[error("weight decay {weight_decay} must be >= 0 and momentum {momentum} in 0..1")]
    Optimizer {
        /// Weight decay.
        weight_decay: f64,
        /// Momentum.
        momentum: f64,
    },
    /// Warm-up as long as the run.
    #[error("{warmup} warm-up epoch(s) leave none of the {epochs} epochs for the schedule")]
    Warmup {
        /// Warm-up epochs.
        warmup: usize,
        /// All epochs.
        epochs: usize,
    },
    /// `--repeat` of a dataset not trained on.
    #[error("--repeat {0}: {ds} is not one of the datasets trained on", ds = .0.dataset)]
    RepeatNotTrained(DatasetRepeat),
    /// `--repeat` with a count out of range.
    #[error("--repeat {0}: times must lie in 1..={MAX_REPEAT}")]
    RepeatTimes(DatasetRepeat),
    /// `--repeat` naming a dataset twice.
    #[error("--repeat names {0} twice")]
    RepeatTwice(DatasetKind),
    /// `--average-from` outside the run's epochs.
    #[error("--average-from {from}: must lie in 1..={epochs}, the run's epochs")]
    AverageFrom {
        /// The epoch asked for.
        from: usize,
        /// All epochs.
        epochs: usize,
    },
    /// The data settings (preprocessing, balance) the pipeline refuses.
    #[error(transparent)]
    Data(#[from] DataError),
}

/// The most appearances per epoch `--repeat` accepts.
pub const MAX_REPEAT: u32 = 100;

impl std::str::FromStr for DatasetRepeat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, times) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: expected DATASET=TIMES, e.g. ckplus=4"))?;
        let dataset = name.trim().parse::<DatasetKind>().map_err(|e| e.to_string())?;
        let times = times
            .trim()
            .parse::<u32>()
            .map_err(|e| format!("`{s}`: times `{times}`: {e}"))?;
        Ok(DatasetRepeat { dataset, times })
    }
}

impl std::fmt::Display for DatasetRepeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.dataset.name(), self.times)
    }
}

/// A training run's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The faces trained on (each dataset evaluated separately too), their split and their
    /// preparation; `seed` also seeds the initialisation, the order and dropout.
    #[serde(flatten)]
    pub data: DataSelection,
    /// Epochs.
    pub epochs: usize,
    /// Images per optimiser step.
    pub batch_size: usize,
    /// Base learning rate (Adam).
    pub lr: f64,
    /// Learning-rate schedule.
    pub schedule: ScheduleKind,
    /// Run directory: checkpoints, metrics, reports, plots.
    pub out_dir: PathBuf,
    /// Compute backend.
    pub backend: BackendKind,
    /// Use at most this many training images (0: all); for smoke tests.
    pub max_train: usize,
    /// Mirror each training image left-right with probability 1/2, drawn per image and epoch
    /// from the seed (not in the paper; faces are near-symmetric, so this doubles the poses
    /// seen without new subjects). Older checkpoints trained without it.
    #[serde(default)]
    pub flip: bool,
    /// Further seeded augmentation of training images (crop, shift, rotation, brightness,
    /// contrast, erasing); off in older checkpoints.
    #[serde(default)]
    pub augment: Augmentation,
    /// Hard (majority) or soft (vote distribution) training targets.
    #[serde(default)]
    pub labels: LabelMode,
    /// Label smoothing: targets become `(1 - e) * target + e / classes` (0: none).
    #[serde(default)]
    pub label_smoothing: f32,
    /// Mixup's `alpha`: each batch blended with a shuffled copy of itself by a weight drawn
    /// from `Beta(alpha, alpha)` ([`super::mixup`]); 0: off, as in older checkpoints.
    #[serde(default)]
    pub mixup: f32,
    /// The optimiser (Adam, the paper's, in older checkpoints).
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// Epochs of linear learning-rate warm-up before the schedule (0: none).
    #[serde(default)]
    pub warmup_epochs: usize,
    /// What initialises this run (fine-tuning): a run directory (its best weights) or an
    /// exported int8 model (`.onnx`, read back; see [`super::init`]); `None` for a seeded
    /// random start.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
    /// Datasets oversampled in each epoch (none listed: every image once).
    #[serde(default)]
    pub repeat: Vec<DatasetRepeat>,
    /// Average the weights at the end of every epoch from this one (1-based) on, and validate
    /// the average beside the model ([`super::average`]); `None`: no averaging.
    #[serde(default)]
    pub average_from: Option<usize>,
    /// SHA-256 of the learned enhancer (`data.enhancer`) the faces were restored by, recorded
    /// when the run starts, so an export can refuse to name another file found at that path
    /// later; `None` without an enhancer and in older checkpoints.
    #[serde(default)]
    pub enhancer_sha256: Option<String>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data: DataSelection {
                datasets: vec![DatasetKind::CkPlus],
                ..DataSelection::default()
            },
            epochs: PAPER_EPOCHS,
            batch_size: PAPER_BATCH_SIZE,
            lr: PAPER_LR,
            schedule: ScheduleKind::LossDecay,
            out_dir: PathBuf::from("runs/latest"),
            backend: BackendKind::Flex,
            max_train: 0,
            flip: false,
            augment: Augmentation::OFF,
            labels: LabelMode::Majority,
            label_smoothing: 0.0,
            mixup: 0.0,
            optimizer: OptimizerConfig::default(),
            warmup_epochs: 0,
            init_from: None,
            repeat: Vec::new(),
            average_from: None,
            enhancer_sha256: None,
        }
    }
}

/// A named training recipe (`host train --recipe`): the data mix, split, targets,
/// augmentation, optimiser and schedule of a known model, so that making it again is one flag.
/// Epochs, batch size, learning rate and seed are the same in every recipe and have flags of
/// their own; each flag given beside a recipe replaces that part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Recipe {
    /// The paper's regime (the defaults): CK+ on the paper's random image split,
    /// one-hot targets, Gaussian-noise copies of minority classes, Adam with the paper's
    /// loss-driven decay, no augmentation.
    #[default]
    Paper,
    /// The in-the-wild model's (models/REPORT.md): FER+ with the subject-independent training
    /// parts of CK+ and JAFFE (3 and 6 times an epoch), FER+'s vote distributions as targets,
    /// mirror and the wild augmentation, no noise copies, AdamW (weight decay 0.05), one
    /// warm-up epoch, then cosine annealing.
    Wild,
}

/// The in-the-wild recipe's weight decay (AdamW, decoupled).
const WILD_WEIGHT_DECAY: f64 = 0.05;

impl TrainConfig {
    /// The configuration of `recipe`, with the shared defaults in everything it leaves open.
    pub fn recipe(recipe: Recipe) -> TrainConfig {
        let paper = TrainConfig::default();
        match recipe {
            Recipe::Paper => paper,
            Recipe::Wild => TrainConfig {
                data: DataSelection {
                    datasets: vec![DatasetKind::FerPlus, DatasetKind::CkPlus, DatasetKind::Jaffe],
                    protocol: SplitProtocol::Subject,
                    balance: BalanceConfig::off(),
                    ..paper.data.clone()
                },
                schedule: ScheduleKind::Cosine,
                flip: true,
                augment: Augmentation::WILD,
                labels: LabelMode::Probability,
                optimizer: OptimizerConfig {
                    kind: OptimizerKind::AdamW,
                    weight_decay: WILD_WEIGHT_DECAY,
                    ..paper.optimizer
                },
                warmup_epochs: 1,
                repeat: vec![
                    DatasetRepeat {
                        dataset: DatasetKind::CkPlus,
                        times: 3,
                    },
                    DatasetRepeat {
                        dataset: DatasetKind::Jaffe,
                        times: 6,
                    },
                ],
                ..paper
            },
        }
    }

    /// The data pipeline configuration for this run (its seed drives the split).
    pub fn prepare_config(&self) -> PrepareConfig {
        PrepareConfig {
            data: self.data.clone(),
            ..PrepareConfig::default()
        }
    }

    /// The configuration a run resumed from a checkpoint trains with: the checkpoint's
    /// (`self`) in everything that shapes the run, with the epochs and run directory `asked`
    /// for (so a run can be lengthened or moved).
    pub fn resumed(&self, asked: &TrainConfig) -> TrainConfig {
        TrainConfig {
            epochs: asked.epochs,
            out_dir: asked.out_dir.clone(),
            ..self.clone()
        }
    }

    /// Whether `asked` differs from this (a checkpoint's) configuration in a setting that
    /// [`Self::resumed`] keeps from the checkpoint, i.e. an option a resume ignores.
    pub fn differs_on_resume(&self, asked: &TrainConfig) -> bool {
        // The enhancer's hash is recorded when a run starts, never asked for.
        let asked = TrainConfig {
            enhancer_sha256: self.enhancer_sha256.clone(),
            ..asked.clone()
        };
        self.resumed(&asked) != asked
    }

    /// How many times an image of `dataset` appears in an epoch.
    pub fn times(&self, dataset: DatasetKind) -> usize {
        self.repeat
            .iter()
            .find(|r| r.dataset == dataset)
            .map_or(1, |r| r.times as usize)
    }

    /// The learning-rate schedule.
    pub fn schedule(&self) -> Schedule {
        Schedule::new(self.schedule, self.lr, self.epochs).with_warmup(self.warmup_epochs)
    }

    /// Checks the numbers.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.data.datasets.is_empty() {
            return Err(ConfigError::NoDataset);
        }
        if [DatasetKind::Fer2013, DatasetKind::FerPlus]
            .iter()
            .all(|k| self.data.datasets.contains(k))
        {
            return Err(ConfigError::SameFacesTwice);
        }
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(ConfigError::Zero {
                epochs: self.epochs,
                batch_size: self.batch_size,
            });
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(ConfigError::LearningRate(self.lr));
        }
        self.augment.validate()?;
        if !(self.label_smoothing.is_finite() && (0.0..1.0).contains(&self.label_smoothing)) {
            return Err(ConfigError::LabelSmoothing(self.label_smoothing));
        }
        if !(self.mixup.is_finite() && self.mixup >= 0.0) {
            return Err(ConfigError::Mixup(self.mixup));
        }
        let o = &self.optimizer;
        if !(o.weight_decay.is_finite()
            && o.weight_decay >= 0.0
            && o.momentum.is_finite()
            && (0.0..1.0).contains(&o.momentum))
        {
            return Err(ConfigError::Optimizer {
                weight_decay: o.weight_decay,
                momentum: o.momentum,
            });
        }
        if self.warmup_epochs >= self.epochs {
            return Err(ConfigError::Warmup {
                warmup: self.warmup_epochs,
                epochs: self.epochs,
            });
        }
        if let Some(from) = self.average_from
            && !(1..=self.epochs).contains(&from)
        {
            return Err(ConfigError::AverageFrom {
                from,
                epochs: self.epochs,
            });
        }
        for (i, &r) in self.repeat.iter().enumerate() {
            if !self.data.datasets.contains(&r.dataset) {
                return Err(ConfigError::RepeatNotTrained(r));
            }
            if !(1..=MAX_REPEAT).contains(&r.times) {
                return Err(ConfigError::RepeatTimes(r));
            }
            if self.repeat[..i].iter().any(|o| o.dataset == r.dataset) {
                return Err(ConfigError::RepeatTwice(r.dataset));
            }
        }
        // Balance and preprocessing are checked where the data pipeline checks them.
        Ok(self.prepare_config().validate()?)
    }
}

#[cfg(test)]
mod tests;
