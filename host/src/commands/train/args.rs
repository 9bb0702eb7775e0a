//! The options of `host train`: a recipe and one documented flag per training choice,
//! resolved into a [`TrainConfig`] in one place ([`TrainArgs::config`]). The options a
//! recipe sets have no default of their own: absent, they are the recipe's.

use std::path::PathBuf;

use clap::Args;
use shared::preprocess::Preprocessing;

use crate::commands::prepare::EnhancementArg;
use crate::data::{BalanceConfig, DataSelection, DatasetKind, SplitProtocol};
use crate::train::augment::Augmentation;
use crate::train::config::{DatasetRepeat, LabelMode, OptimizerConfig, OptimizerKind};
use crate::train::config::{PAPER_BATCH_SIZE, PAPER_EPOCHS, PAPER_LR};
use crate::train::{BackendKind, Recipe, ScheduleKind, TrainConfig};

/// Named augmentation presets (`--augment`); single kinds are set with `--aug-*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AugmentPreset {
    /// No augmentation beyond `--flip`.
    #[default]
    None,
    /// [`Augmentation::WILD`]: crop, shift, rotation, brightness, contrast, erasing.
    Wild,
}

impl AugmentPreset {
    /// The augmentation the preset names.
    pub fn augmentation(self) -> Augmentation {
        match self {
            AugmentPreset::None => Augmentation::OFF,
            AugmentPreset::Wild => Augmentation::WILD,
        }
    }
}

/// Options of `host train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// The recipe the options below start from: the paper's regime, or the in-the-wild
    /// model's (FER+ with CK+ and JAFFE; models/REPORT.md). Each option given replaces its
    /// part of the recipe.
    #[arg(long, value_enum, default_value_t = Recipe::Paper)]
    pub recipe: Recipe,
    /// Directory with one sub-directory per dataset (default: $VIGIL_DATA, else ../shared/data beside the checkout).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Datasets to train on together, comma-separated (each is also evaluated on its own)
    /// [recipe paper: ckplus; wild: ferplus,ckplus,jaffe].
    #[arg(long = "dataset", alias = "datasets", value_enum, value_delimiter = ',')]
    pub datasets: Vec<DatasetKind>,
    /// Split protocol: the paper's random image split, or subject-independent [recipe paper:
    /// paper; wild: subject].
    #[arg(long, value_enum)]
    pub protocol: Option<SplitProtocol>,
    /// Where prepared splits are cached (made on first use, as `host prepare` would).
    #[arg(long, default_value = "prepared")]
    pub cache: PathBuf,
    /// Seed of the splits, initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Epochs (paper: 30).
    #[arg(long, default_value_t = PAPER_EPOCHS)]
    pub epochs: usize,
    /// Images per step (paper: 64).
    #[arg(long, default_value_t = PAPER_BATCH_SIZE)]
    pub batch_size: usize,
    /// Adam learning rate (paper: 0.001).
    #[arg(long, default_value_t = PAPER_LR)]
    pub lr: f64,
    /// Learning-rate schedule [recipe paper: loss-decay; wild: cosine].
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleKind>,
    /// Run directory (checkpoints, metrics.csv, report.md, plots/).
    #[arg(long, default_value = "runs/latest")]
    pub out: PathBuf,
    /// Compute backend (wgpu / cuda need the cargo feature of that name).
    #[arg(long, value_enum, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// Continue the run in --out from its last checkpoint (its data, seed and settings are
    /// kept; --epochs may extend it).
    #[arg(long)]
    pub resume: bool,
    /// Minutes between checkpoints in the middle of an epoch (0: at epoch ends only); a
    /// killed run loses at most this much work.
    #[arg(long, default_value_t = 10.0)]
    pub save_every: f64,
    /// Train on at most this many images (0: all); for quick checks.
    #[arg(long, default_value_t = 0)]
    pub max_train: usize,
    /// Contrast enhancement of the 48x48 faces (the export's manifest carries it to the
    /// edge). Another choice than the cache in --cache was made with is refused: give such
    /// runs their own --cache.
    #[arg(long, value_enum, default_value_t = EnhancementArg::Clahe)]
    pub enhancement: EnhancementArg,
    /// Train on the originals only, without the Gaussian-noise copies of minority classes
    /// (an ablation of the paper's step 4; give it its own --cache too) [recipe wild: on].
    #[arg(long)]
    pub no_balance: bool,
    /// Mirror training images left-right at random (seeded; not in the paper) [recipe wild:
    /// on].
    #[arg(long)]
    pub flip: bool,
    /// Augmentation preset of training images (after CLAHE, on the network input) [recipe
    /// paper: none; wild: wild].
    #[arg(long, value_enum)]
    pub augment: Option<AugmentPreset>,
    /// Smallest random-crop side, as a fraction of the image (1: off); overrides the preset.
    #[arg(long)]
    pub aug_crop: Option<f32>,
    /// Largest shift as a fraction of the side (0: off); overrides the preset.
    #[arg(long)]
    pub aug_shift: Option<f32>,
    /// Largest rotation in degrees (0: off); overrides the preset.
    #[arg(long)]
    pub aug_rotate: Option<f32>,
    /// Largest brightness offset, fraction of the value range (0: off); overrides the preset.
    #[arg(long)]
    pub aug_brightness: Option<f32>,
    /// Largest contrast change (0: off); overrides the preset.
    #[arg(long)]
    pub aug_contrast: Option<f32>,
    /// Probability of random erasing (0: off); overrides the preset.
    #[arg(long)]
    pub aug_erase: Option<f32>,
    /// Training targets: one-hot labels, or FER+'s vote distribution where there are votes
    /// [recipe paper: majority; wild: probability].
    #[arg(long, value_enum)]
    pub labels: Option<LabelMode>,
    /// Label smoothing (0: none).
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f32,
    /// Mixup alpha: blend each batch with a shuffled copy of itself, images and targets, by a
    /// weight drawn from Beta(alpha, alpha) per batch (0: off; 0.2-0.4 is usual)
    #[arg(long, default_value_t = 0.0)]
    pub mixup: f32,
    /// Optimiser [recipe paper: adam; wild: adamw].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Weight decay (AdamW: decoupled; Adam and SGD: L2) [recipe paper: 0; wild: 0.05].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// SGD (Nesterov) momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Epochs of linear learning-rate warm-up before the schedule [recipe paper: 0; wild: 1].
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Start from the best weights of this run directory, or from an exported int8 model
    /// (e.g. models/vigil-int8.onnx, read back), instead of a seeded random initialisation.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// Oversample datasets of the mix: DATASET=TIMES, comma-separated (e.g. ckplus=4,jaffe=8):
    /// each of its training images appears TIMES times per epoch, augmented anew each time
    /// [recipe paper: none; wild: ckplus=3,jaffe=6, of the datasets trained on].
    #[arg(long, value_delimiter = ',')]
    pub repeat: Vec<DatasetRepeat>,
    /// Average the weights at the end of every epoch from EPOCH on (stochastic weight
    /// averaging; usually with --schedule fixed after a finished run, via --init-from): the
    /// average is validated each epoch, with BatchNorm statistics re-measured, and becomes the
    /// best checkpoint when it beats every epoch.
    #[arg(long, value_name = "EPOCH")]
    pub average_from: Option<usize>,
    /// Train on faces restored by this learned enhancer (`host export --enhancer`) before
    /// --enhancement; the export puts it beside the model and names it in the manifest.
    #[arg(long)]
    pub enhancer: Option<PathBuf>,
    /// Start a fresh run in --out even though it holds a previous run's checkpoints (they are
    /// replaced); without it such a run directory is refused.
    #[arg(long)]
    pub force: bool,
    /// Train from complete prepared-cache files alone, without listing the datasets to check
    /// that the cache matches them (for a machine that has the cache but not the data).
    #[arg(long)]
    pub cache_only: bool,
}

impl TrainArgs {
    /// The library configuration these options describe.
    pub fn config(&self) -> TrainConfig {
        let recipe = TrainConfig::recipe(self.recipe);
        let datasets = if self.datasets.is_empty() {
            recipe.data.datasets.clone()
        } else {
            self.datasets.clone()
        };
        let repeat = if self.repeat.is_empty() {
            // The recipe's, for the datasets trained on.
            let trained = |r: &&DatasetRepeat| datasets.contains(&r.dataset);
            recipe.repeat.iter().filter(trained).copied().collect()
        } else {
            self.repeat.clone()
        };
        TrainConfig {
            data: DataSelection {
                data_root: self.data.clone().unwrap_or(recipe.data.data_root),
                datasets,
                protocol: self.protocol.unwrap_or(recipe.data.protocol),
                cache_dir: self.cache.clone(),
                seed: self.seed,
                preprocessing: Preprocessing {
                    enhancement: self.enhancement.enhancement(),
                    ..recipe.data.preprocessing
                },
                balance: if self.no_balance {
                    BalanceConfig::off()
                } else {
                    recipe.data.balance
                },
                enhancer: self.enhancer.clone(),
            },
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            schedule: self.schedule.unwrap_or(recipe.schedule),
            out_dir: self.out.clone(),
            backend: self.backend,
            max_train: self.max_train,
            flip: self.flip || recipe.flip,
            augment: self.augmentation(recipe.augment),
            labels: self.labels.unwrap_or(recipe.labels),
            label_smoothing: self.label_smoothing,
            mixup: self.mixup,
            optimizer: OptimizerConfig {
                kind: self.optimizer.unwrap_or(recipe.optimizer.kind),
                weight_decay: self.weight_decay.unwrap_or(recipe.optimizer.weight_decay),
                momentum: self.momentum,
            },
            warmup_epochs: self.warmup.unwrap_or(recipe.warmup_epochs),
            init_from: self.init_from.clone(),
            repeat,
            average_from: self.average_from,
            enhancer_sha256: None,
        }
    }

    /// `--augment` (else the recipe's `base`) with the single-kind overrides applied.
    fn augmentation(&self, base: Augmentation) -> Augmentation {
        let base = self.augment.map_or(base, AugmentPreset::augmentation);
        Augmentation {
            crop: self.aug_crop.unwrap_or(base.crop),
            shift: self.aug_shift.unwrap_or(base.shift),
            rotate: self.aug_rotate.unwrap_or(base.rotate),
            brightness: self.aug_brightness.unwrap_or(base.brightness),
            contrast: self.aug_contrast.unwrap_or(base.contrast),
            erase: self.aug_erase.unwrap_or(base.erase),
        }
    }
}
