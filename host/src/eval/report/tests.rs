use super::*;
use crate::data::DataSelection;

#[test]
fn markdown_names_the_split_and_has_paper_layout() {
    let confusion = ConfusionMatrix::from_predictions(&[0, 0, 3, 6], &[0, 1, 3, 6]);
    let report = RunReport {
        config: TrainConfig::default(),
        history: vec![],
        best: None,
        results: vec![SplitResult {
            split: SplitName::Test,
            dataset: Some(DatasetKind::CkPlus),
            loss: 0.5,
            confusion,
        }],
        plots: vec![],
        notes: vec![],
    };
    let md = render_markdown(&report);
    assert!(md.contains("## test split, ckplus (4 images)"), "{md}");
    assert!(
        md.contains("| per-class accuracy (%) | angry | bored | fear | happy | neutral | sad | surprised | mean |")
    );
    assert!(
        md.contains("| this run | 50.00 | n/a | n/a | 100.00 | n/a | n/a | 100.00 | 83.33 |"),
        "{md}"
    );
    assert!(md.contains("| paper | 85.52 |"));
    assert!(md.contains("| enhancement | CLAHE (clip limit 2, 4x4 tiles) |"), "{md}");
    assert!(
        md.contains("| class balancing | Gaussian-noise copies (std 2.236)"),
        "{md}"
    );
    assert!(md.contains("| augmentation | none |"), "{md}");
    let ablated = RunReport {
        config: TrainConfig {
            data: DataSelection {
                preprocessing: shared::preprocess::Preprocessing {
                    enhancement: Enhancement::None,
                    ..Default::default()
                },
                balance: BalanceConfig::off(),
                ..TrainConfig::default().data
            },
            flip: true,
            ..TrainConfig::default()
        },
        ..report.clone()
    };
    let md = render_markdown(&ablated);
    assert!(!md.contains("weight average"), "{md}");
    assert!(md.contains("| enhancement | none |"), "{md}");
    assert!(md.contains("| augmentation | random left-right mirror"), "{md}");
    assert!(
        md.contains("| class balancing | off (training originals only) |"),
        "{md}"
    );
    assert!(md.contains("| angry | 50.00 | 50.00 | 0.00 |"), "{md}");
    let csv = confusion_csv(&report.results[0]);
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("test,ckplus,angry,2,0.500000,0.500000,")
    );
    assert_eq!(csv.lines().count(), 8);
    let per = per_class_csv(&report.results);
    assert!(per.contains("test,ckplus,mean,4,0.833333"));
}

#[test]
fn an_averaged_best_is_named_with_its_averaging() {
    let report = RunReport {
        config: TrainConfig {
            average_from: Some(2),
            ..TrainConfig::default()
        },
        history: vec![],
        best: Some(crate::train::checkpoint::Best {
            epoch: 8,
            val_acc: 0.8232,
            val_loss: 0.5311,
            averaged: Some(7),
        }),
        results: vec![],
        plots: vec![],
        notes: vec![],
    };
    let md = render_markdown(&report);
    assert!(
        md.contains("| weight averaging | the weights at the end of every epoch from epoch 2 on"),
        "{md}"
    );
    assert!(
        md.contains("| evaluated weights | epoch 8, the weight average of 7 epochs (best validation: accuracy 82.32%"),
        "{md}"
    );
}
