use super::*;
use clap::Parser;
use std::path::PathBuf;

use crate::data::BalanceConfig;
use shared::preprocess::{Enhancement, Preprocessing};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: TrainArgs,
}

#[test]
fn defaults_are_the_papers_pipeline() {
    let c = Cli::parse_from(["train"]).args.config();
    assert_eq!(c.data.preprocessing, Preprocessing::default());
    assert_eq!(c.data.balance, BalanceConfig::default());
    assert!(c.data.balance.is_on());
    assert_eq!(c.prepare_config().data.preprocessing, Preprocessing::default());
    assert!(c.validate().is_ok());
}

#[test]
fn ablation_options_reach_the_data_pipeline() {
    let c = Cli::parse_from(["train", "--enhancement", "none", "--no-balance", "--cache", "/c"])
        .args
        .config();
    assert_eq!(c.data.preprocessing.enhancement, Enhancement::None);
    assert_eq!(
        c.data.preprocessing.normalization,
        Preprocessing::default().normalization
    );
    assert!(!c.data.balance.is_on());
    assert_eq!(c.data.balance, BalanceConfig::off());
    assert_eq!(c.data.cache_dir, PathBuf::from("/c"));
    assert_eq!(c.prepare_config().data, c.data);
    assert!(c.validate().is_ok());

    let eq = Cli::parse_from(["train", "--enhancement", "equalize"]).args.config();
    assert_eq!(eq.data.preprocessing.enhancement, Enhancement::Equalize);
    assert!(eq.data.balance.is_on());
    assert!(Cli::try_parse_from(["train", "--enhancement", "ffa"]).is_err());
    assert!(Cli::try_parse_from(["train", "--no-balance", "2"]).is_err());
}

/// A run behind a learned enhancer records the hash of the file it loaded when it starts
/// (its export checks it); resumed or evaluated later, it refuses another file at that path.
#[test]
fn the_enhancers_hash_is_recorded_and_checked() {
    let plain = Cli::parse_from(["train"]).args.config();
    let classical = data::faces::enhancer_for(&plain.prepare_config()).unwrap();
    assert_eq!(
        enhancer_hash(&plain, classical.learned_sha256()).unwrap(),
        None,
        "no enhancer"
    );

    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/vigil-enhancer.onnx");
    let (_, manifest) = artifacts::enhancer::read_checked(&shipped).unwrap();
    let mut c = plain.clone();
    c.data.enhancer = Some(shipped.clone());
    let learned = data::faces::enhancer_for(&c.prepare_config()).unwrap();
    assert_eq!(learned.learned_sha256(), Some(manifest.sha256.as_str()));
    let recorded = enhancer_hash(&c, learned.learned_sha256()).unwrap();
    assert_eq!(
        recorded.as_deref(),
        Some(manifest.sha256.as_str()),
        "a new run records it"
    );
    c.enhancer_sha256 = recorded;
    assert!(
        enhancer_hash(&c, learned.learned_sha256()).is_ok(),
        "the same file later"
    );
    c.enhancer_sha256 = Some("0".repeat(64));
    let err = format!("{:#}", enhancer_hash(&c, learned.learned_sha256()).unwrap_err());
    assert!(
        err.contains("vigil-enhancer.onnx") && err.contains("start a new run"),
        "{err}"
    );

    c.data.enhancer = Some(shipped.with_file_name("absent-enhancer.onnx"));
    let arch = Architecture::paper(shared::NUM_CLASSES);
    let err = format!("{:#}", load_data(&c, &arch, false).err().expect("no enhancer file"));
    assert!(err.contains("absent-enhancer.onnx"), "{err}");
}

/// `--recipe wild` is the in-the-wild model's command as REPORT.md and `tools/run-chain.sh`
/// spell it, flag for flag.
#[test]
fn the_wild_recipe_is_the_in_the_wild_models_flags() {
    let recipe = Cli::parse_from(["train", "--recipe", "wild"]).args.config();
    let spelled = Cli::parse_from([
        "train",
        "--dataset",
        "ferplus,ckplus,jaffe",
        "--protocol",
        "subject",
        "--labels",
        "probability",
        "--flip",
        "--augment",
        "wild",
        "--no-balance",
        "--optimizer",
        "adamw",
        "--weight-decay",
        "0.05",
        "--schedule",
        "cosine",
        "--warmup",
        "1",
        "--repeat",
        "ckplus=3,jaffe=6",
    ])
    .args
    .config();
    assert_eq!(recipe, spelled);
    assert!(recipe.validate().is_ok());
    assert_eq!(
        Cli::parse_from(["train", "--recipe", "paper"]).args.config(),
        Cli::parse_from(["train"]).args.config(),
        "the paper's recipe is the default"
    );
}

/// A flag given beside a recipe replaces its part of the recipe and nothing else; the
/// recipe's oversampling keeps to the datasets trained on.
#[test]
fn flags_replace_their_part_of_a_recipe() {
    use crate::data::{DatasetKind, SplitProtocol};
    use crate::train::ScheduleKind;
    use crate::train::config::{DatasetRepeat, LabelMode, OptimizerKind};

    let wild = Cli::parse_from(["train", "--recipe", "wild"]).args.config();
    let c = Cli::parse_from([
        "train",
        "--recipe",
        "wild",
        "--dataset",
        "ferplus,jaffe",
        "--schedule",
        "fixed",
        "--weight-decay",
        "0",
        "--aug-erase",
        "0",
    ])
    .args
    .config();
    assert_eq!(c.data.datasets, [DatasetKind::FerPlus, DatasetKind::Jaffe]);
    assert_eq!(
        c.repeat,
        [DatasetRepeat {
            dataset: DatasetKind::Jaffe,
            times: 6
        }]
    );
    assert_eq!(c.schedule, ScheduleKind::Fixed);
    assert_eq!(c.optimizer.weight_decay, 0.0);
    assert_eq!(c.optimizer.kind, OptimizerKind::AdamW);
    assert_eq!(c.augment.erase, 0.0);
    assert_eq!(c.augment.rotate, wild.augment.rotate);
    assert_eq!(c.labels, LabelMode::Probability);
    assert_eq!(c.data.protocol, SplitProtocol::Subject);
    assert!(c.flip && !c.data.balance.is_on());
    assert!(c.validate().is_ok());

    let own = Cli::parse_from(["train", "--recipe", "wild", "--repeat", "ckplus=2"])
        .args
        .config();
    assert_eq!(
        own.repeat,
        [DatasetRepeat {
            dataset: DatasetKind::CkPlus,
            times: 2
        }]
    );
    let paper = Cli::parse_from(["train", "--dataset", "ferplus", "--augment", "wild"])
        .args
        .config();
    assert_eq!(paper.optimizer.kind, OptimizerKind::Adam);
    assert!(paper.repeat.is_empty() && !paper.flip && paper.data.balance.is_on());
}
