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
