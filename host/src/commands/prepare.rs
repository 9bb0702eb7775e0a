//! `host prepare`: reads the datasets, prepares 48x48 faces, splits, balances and caches them,
//! and prints the counts per class and split (also written as Markdown beside the cache).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use shared::labels::ContemptPolicy;
use shared::preprocess::{Enhancement, Preprocessing};

use crate::data::{self, BalanceConfig, DataSelection, DatasetKind, PrepareConfig, SplitProtocol};

/// Contrast enhancement choices on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnhancementArg {
    /// CLAHE with the shared defaults (clip 2, 4x4 tiles).
    Clahe,
    /// Global histogram equalisation.
    Equalize,
    /// No enhancement.
    None,
}

impl EnhancementArg {
    /// The shared preprocessing's enhancement this choice stands for.
    pub fn enhancement(self) -> Enhancement {
        match self {
            EnhancementArg::Clahe => Enhancement::default(),
            EnhancementArg::Equalize => Enhancement::Equalize,
            EnhancementArg::None => Enhancement::None,
        }
    }
}

/// CK+ contempt handling on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContemptArg {
    /// Leave contempt images out.
    Drop,
    /// Count contempt as disgust ("bored").
    Fold,
}

/// Options of `host prepare`.
#[derive(Debug, Clone, Args)]
pub struct PrepareArgs {
    /// Directory with one sub-directory per dataset (default: $VIGIL_DATA, else ../shared/data beside the checkout).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Datasets to prepare, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![DatasetKind::CkPlus, DatasetKind::Jaffe, DatasetKind::Fer2013])]
    pub datasets: Vec<DatasetKind>,
    /// Explicit directory of one dataset, as KIND=PATH (repeatable), e.g. ckplus=/data/CK+48.
    #[arg(long = "dir", value_name = "KIND=PATH")]
    pub dirs: Vec<String>,
    /// Split protocol: the paper's random 4:1 split, or subject-independent.
    #[arg(long, value_enum, default_value_t = SplitProtocol::Paper)]
    pub protocol: SplitProtocol,
    /// Seed of the splits and the balancing noise.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Contrast enhancement of the 48x48 crop.
    #[arg(long, value_enum, default_value_t = EnhancementArg::Clahe)]
    pub enhancement: EnhancementArg,
    /// Minority classes of the training split grow by up to this factor with noisy copies
    /// (capped at the largest class); 1 turns balancing off.
    #[arg(long, default_value_t = BalanceConfig::default().factor)]
    pub balance: f32,
    /// CK+ contempt: drop it, or fold it into disgust.
    #[arg(long, value_enum, default_value_t = ContemptArg::Drop)]
    pub contempt: ContemptArg,
    /// OpenCV Haar cascade XML for JAFFE face detection (default: models/, then the data's
    /// haarcascades/).
    #[arg(long)]
    pub cascade: Option<PathBuf>,
    /// A learned face enhancer (`host export --enhancer`) run on every crop before
    /// --enhancement, as the edge will for a model trained on these faces.
    #[arg(long)]
    pub enhancer: Option<PathBuf>,
    /// Output directory for the cache files and summaries.
    #[arg(long, default_value = "prepared")]
    pub out: PathBuf,
    /// Worker threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl PrepareArgs {
    /// The library configuration these options describe.
    pub fn config(&self) -> Result<PrepareConfig> {
        let defaults = PrepareConfig::default();
        let mut config = PrepareConfig {
            data: DataSelection {
                data_root: self.data.clone().unwrap_or(defaults.data.data_root.clone()),
                datasets: self.datasets.clone(),
                protocol: self.protocol,
                cache_dir: self.out.clone(),
                seed: self.seed,
                preprocessing: Preprocessing {
                    enhancement: self.enhancement.enhancement(),
                    ..Preprocessing::default()
                },
                balance: BalanceConfig {
                    factor: self.balance,
                    ..defaults.data.balance
                },
                enhancer: self.enhancer.clone(),
            },
            contempt: match self.contempt {
                ContemptArg::Drop => ContemptPolicy::Drop,
                ContemptArg::Fold => ContemptPolicy::FoldIntoDisgust,
            },
            cascade: self.cascade.clone(),
            threads: self.threads,
            ..defaults
        };
        for spec in &self.dirs {
            let Some((kind, path)) = spec.split_once('=') else {
                bail!("--dir {spec:?}: expected KIND=PATH")
            };
            config.dataset_dirs.insert(kind.parse()?, PathBuf::from(path));
        }
        config.validate()?;
        Ok(config)
    }
}

/// Runs `host prepare`: prepares, then prints every dataset's summary and the timing.
pub fn run(args: &PrepareArgs) -> Result<()> {
    let config = args.config()?;
    let start = Instant::now();
    let enhancer = data::faces::enhancer_for(&config)?;
    let report = data::prepare_with(&config, enhancer.as_ref())
        .with_context(|| format!("preparing data from {}", config.data.data_root.display()))?;
    for d in &report.datasets {
        println!("{}", data::prepare::render_summary(d, &config, enhancer.as_ref()));
        println!(
            "written: {} ({:.1} s)\n",
            d.summary_file.display(),
            d.elapsed.as_secs_f64()
        );
    }
    let s = &report.splits;
    let augmented = s.train.iter().filter(|x| x.augmented).count();
    println!(
        "prepared {} dataset(s), {} protocol, in {:.1} s: train {} ({} noisy copies), val {}, test {}; cache in {}",
        report.datasets.len(),
        config.data.protocol,
        start.elapsed().as_secs_f64(),
        s.train.len(),
        augmented,
        s.val.len(),
        s.test.len(),
        config.data.cache_dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: PrepareArgs,
    }

    #[test]
    fn options_map_onto_the_config() {
        let cli = Cli::parse_from([
            "prepare",
            "--data",
            "/d",
            "--datasets",
            "ckplus,jaffe",
            "--protocol",
            "subject",
            "--seed",
            "7",
            "--enhancement",
            "none",
            "--balance",
            "3",
            "--contempt",
            "fold",
            "--dir",
            "jaffe=/j",
            "--out",
            "/o",
        ]);
        let c = cli.args.config().unwrap();
        assert_eq!(c.data.data_root, PathBuf::from("/d"));
        assert_eq!(c.data.datasets, [DatasetKind::CkPlus, DatasetKind::Jaffe]);
        assert_eq!(c.data.protocol, SplitProtocol::Subject);
        assert_eq!(c.data.seed, 7);
        assert_eq!(c.data.preprocessing.enhancement, Enhancement::None);
        assert_eq!(c.data.balance.factor, 3.0);
        assert_eq!(c.contempt, ContemptPolicy::FoldIntoDisgust);
        assert_eq!(c.dataset_dirs[&DatasetKind::Jaffe], PathBuf::from("/j"));
        assert_eq!(c.data.cache_dir, PathBuf::from("/o"));

        let defaults = Cli::parse_from(["prepare"]).args.config().unwrap();
        assert_eq!(
            defaults.data.datasets,
            [DatasetKind::CkPlus, DatasetKind::Jaffe, DatasetKind::Fer2013]
        );
        assert_eq!(defaults.data.preprocessing.enhancement, Enhancement::default());
        assert_eq!(defaults.data.balance, BalanceConfig::default());
        assert!(Cli::parse_from(["prepare", "--dir", "nonsense"]).args.config().is_err());
        assert!(Cli::try_parse_from(["prepare", "--protocol", "kfold"]).is_err());
    }
}
