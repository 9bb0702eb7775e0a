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

/// A run behind a learned enhancer records that file's hash when it starts; its export checks it.
#[test]
fn the_enhancers_hash_is_recorded() {
    let mut c = Cli::parse_from(["train"]).args.config();
    record_enhancer(&mut c).unwrap();
    assert_eq!(c.enhancer_sha256, None, "no enhancer");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/vigil-enhancer.onnx");
    c.data.enhancer = Some(shipped.clone());
    record_enhancer(&mut c).unwrap();
    let (_, manifest) = artifacts::enhancer::read_checked(&shipped).unwrap();
    assert_eq!(c.enhancer_sha256.as_deref(), Some(manifest.sha256.as_str()));
    c.data.enhancer = Some(shipped.with_file_name("absent-enhancer.onnx"));
    let err = record_enhancer(&mut c).unwrap_err();
    assert!(format!("{err:#}").contains("absent-enhancer.onnx"), "{err:#}");
}
