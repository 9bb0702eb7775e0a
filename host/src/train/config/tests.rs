use super::*;
use crate::data::BalanceConfig;
use shared::preprocess::{Enhancement, Preprocessing};

/// The configuration as checkpoints written before enhancement and balancing were options
/// hold it (runs/ckplus-jaffe, the shipped model's run).
const OLD_CONFIG: &str = r#"{"data_root":"/work/shared/data","datasets":["CkPlus","Jaffe"],"protocol":"Paper","cache_dir":"prepared","seed":42,"epochs":30,"batch_size":64,"lr":0.001,"schedule":"LossDecay","out_dir":"runs/ckplus-jaffe","backend":"Flex","max_train":0}"#;

#[test]
fn old_checkpoint_configs_load_with_todays_pipeline() {
    let old: TrainConfig = serde_json::from_str(OLD_CONFIG).unwrap();
    assert_eq!(old.data.preprocessing, Preprocessing::default());
    assert_eq!(old.data.balance, BalanceConfig::default());
    assert_eq!(old.data.datasets, [DatasetKind::CkPlus, DatasetKind::Jaffe]);
    let prepare = old.prepare_config();
    let defaults = PrepareConfig::default();
    assert_eq!(
        (prepare.data.preprocessing, prepare.data.balance),
        (defaults.data.preprocessing, defaults.data.balance)
    );
    // The data selection is written as top-level keys, as it always was.
    let written: serde_json::Value = serde_json::to_value(&old).unwrap();
    assert!(written.get("data").is_none() && written["datasets"] == serde_json::json!(["CkPlus", "Jaffe"]));
}

#[test]
fn ablation_settings_round_trip_and_are_validated() {
    let ablated = TrainConfig {
        data: DataSelection {
            preprocessing: Preprocessing {
                enhancement: Enhancement::None,
                ..Preprocessing::default()
            },
            balance: BalanceConfig::off(),
            ..TrainConfig::default().data
        },
        ..TrainConfig::default()
    };
    let json = serde_json::to_string(&ablated).unwrap();
    assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), ablated);
    assert!(ablated.validate().is_ok());

    let nan = TrainConfig {
        data: DataSelection {
            balance: BalanceConfig {
                factor: f32::NAN,
                ..BalanceConfig::default()
            },
            ..TrainConfig::default().data
        },
        ..TrainConfig::default()
    };
    assert!(nan.validate().unwrap_err().to_string().contains("balance"));
    let wrong_size = TrainConfig {
        data: DataSelection {
            preprocessing: Preprocessing {
                size: 64,
                ..Preprocessing::default()
            },
            ..TrainConfig::default().data
        },
        ..TrainConfig::default()
    };
    assert!(wrong_size.validate().unwrap_err().to_string().contains("size"));
}

#[test]
fn repeats_parse_and_must_name_a_trained_dataset_once() {
    let r: DatasetRepeat = "jaffe=8".parse().unwrap();
    assert_eq!(
        (r.dataset, r.times, r.to_string().as_str()),
        (DatasetKind::Jaffe, 8, "jaffe=8")
    );
    for bad in ["jaffe", "jaffe=x", "nope=2", "jaffe=-1"] {
        assert!(bad.parse::<DatasetRepeat>().is_err(), "{bad}");
    }
    let config = |repeat: &[&str]| TrainConfig {
        data: DataSelection {
            datasets: vec![DatasetKind::FerPlus, DatasetKind::Jaffe],
            ..TrainConfig::default().data
        },
        repeat: repeat.iter().map(|r| r.parse().unwrap()).collect(),
        ..TrainConfig::default()
    };
    assert!(config(&["jaffe=8"]).validate().is_ok());
    assert_eq!(config(&["jaffe=8"]).times(DatasetKind::Jaffe), 8);
    assert_eq!(config(&["jaffe=8"]).times(DatasetKind::FerPlus), 1);
    assert!(
        config(&["ckplus=2"])
            .validate()
            .unwrap_err()
            .to_string()
            .contains("not one of")
    );
    assert!(
        config(&["jaffe=0"])
            .validate()
            .unwrap_err()
            .to_string()
            .contains("1..=")
    );
    assert!(
        config(&["jaffe=2", "jaffe=3"])
            .validate()
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
}

#[test]
fn a_resume_keeps_the_checkpoints_settings_but_epochs_and_run_directory() {
    let checkpoint = TrainConfig {
        lr: 3e-4,
        epochs: 10,
        ..TrainConfig::default()
    };
    let longer = TrainConfig {
        epochs: 30,
        out_dir: PathBuf::from("elsewhere"),
        ..checkpoint.clone()
    };
    assert_eq!(checkpoint.resumed(&longer), longer);
    assert!(!checkpoint.differs_on_resume(&longer));
    let other_lr = TrainConfig {
        lr: 1e-3,
        ..longer.clone()
    };
    assert_eq!(checkpoint.resumed(&other_lr).lr, 3e-4);
    assert!(checkpoint.differs_on_resume(&other_lr));
}

#[test]
fn averaging_must_start_within_the_run() {
    let with = |average_from| TrainConfig {
        average_from,
        epochs: 5,
        ..TrainConfig::default()
    };
    assert!(with(None).validate().is_ok());
    assert!(with(Some(1)).validate().is_ok());
    assert!(with(Some(5)).validate().is_ok());
    for from in [0, 6] {
        let err = with(Some(from)).validate().unwrap_err();
        assert!(matches!(err, ConfigError::AverageFrom { .. }), "{err}");
        assert!(err.to_string().contains("--average-from"), "{err}");
    }
}

#[test]
fn fer2013_and_ferplus_are_never_trained_together() {
    let with = |datasets: Vec<DatasetKind>| TrainConfig {
        data: DataSelection {
            datasets,
            ..TrainConfig::default().data
        },
        ..TrainConfig::default()
    };
    let both = with(vec![DatasetKind::Fer2013, DatasetKind::CkPlus, DatasetKind::FerPlus]);
    assert!(matches!(both.validate(), Err(ConfigError::SameFacesTwice)));
    assert!(both.validate().unwrap_err().to_string().contains("same faces"));
    assert!(with(vec![DatasetKind::FerPlus, DatasetKind::CkPlus]).validate().is_ok());
    assert!(with(vec![DatasetKind::Fer2013, DatasetKind::CkPlus]).validate().is_ok());
}
