use super::*;
use clap::Parser;
use shared::preprocess::Enhancement;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: TrainArgs,
}

#[test]
fn defaults_are_the_papers_pipeline() {
    let c = Cli::parse_from(["train"]).args.config();
    assert_eq!(c.preprocessing, Preprocessing::default());
    assert_eq!(c.balance, BalanceConfig::default());
    assert!(c.balance.is_on());
    assert_eq!(c.prepare_config().preprocessing, Preprocessing::default());
    assert!(c.validate().is_ok());
}

#[test]
fn ablation_options_reach_the_data_pipeline() {
    let c = Cli::parse_from(["train", "--enhancement", "none", "--no-balance", "--cache", "/c"])
        .args
        .config();
    assert_eq!(c.preprocessing.enhancement, Enhancement::None);
    assert_eq!(c.preprocessing.normalization, Preprocessing::default().normalization);
    assert!(!c.balance.is_on());
    let data = c.prepare_config();
    assert_eq!(data.preprocessing, c.preprocessing);
    assert_eq!(data.balance, BalanceConfig::off());
    assert_eq!(data.cache_dir, PathBuf::from("/c"));
    assert!(c.validate().is_ok());

    let eq = Cli::parse_from(["train", "--enhancement", "equalize"]).args.config();
    assert_eq!(eq.preprocessing.enhancement, Enhancement::Equalize);
    assert!(eq.balance.is_on());
    assert!(Cli::try_parse_from(["train", "--enhancement", "ffa"]).is_err());
    assert!(Cli::try_parse_from(["train", "--no-balance", "2"]).is_err());
}
