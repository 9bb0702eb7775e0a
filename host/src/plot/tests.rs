use super::*;

fn history() -> Vec<EpochMetrics> {
    (1..=6)
        .map(|epoch| EpochMetrics {
            epoch,
            train_loss: 2.0 / epoch as f64,
            train_acc: 0.1 * epoch as f64,
            val_loss: 2.2 / epoch as f64,
            val_acc: 0.09 * epoch as f64,
            lr: if epoch <= 5 { 1e-3 } else { 5e-5 },
            seconds: 1.0,
            ms_per_image: 10.0,
        })
        .collect()
}

#[test]
fn plots_render_to_png_files_with_text() {
    let dir = tempfile::tempdir().unwrap();
    let h = history();
    loss_and_lr(&dir.path().join("loss.png"), &h, "validation loss and learning rate").unwrap();
    let average: Vec<AverageMetrics> = (2..=6)
        .map(|epoch| AverageMetrics {
            epoch,
            models: epoch - 1,
            val_loss: 2.0 / epoch as f64,
            val_acc: 0.095 * epoch as f64,
        })
        .collect();
    accuracy(&dir.path().join("acc.png"), &h, &average, "accuracy").unwrap();
    let m = ConfusionMatrix::from_predictions(&[0, 0, 3, 6, 6], &[0, 1, 3, 6, 2]);
    confusion(&dir.path().join("cm.png"), &m, "confusion").unwrap();
    let probs = [[0.9, 0.1, 0., 0., 0., 0., 0.], [0.4, 0.3, 0.3, 0., 0., 0., 0.]];
    let bins = crate::eval::calibration::reliability(&probs, &[0, 1], 15);
    reliability(&dir.path().join("rel.png"), &bins, &bins, "reliability").unwrap();
    for name in ["loss.png", "acc.png", "cm.png", "rel.png"] {
        let img = image::open(dir.path().join(name)).unwrap().to_rgb8();
        // Text and lines leave dark pixels; a blank canvas would have none.
        let dark = img.pixels().filter(|p| p.0.iter().all(|&c| c < 80)).count();
        assert!(dark > 500, "{name}: only {dark} dark pixels");
    }
    assert!(matches!(
        accuracy(&dir.path().join("x.png"), &[], &[], "x"),
        Err(PlotError::Empty)
    ));
}

#[test]
fn the_accuracy_plot_draws_the_weight_average_only_where_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let h = history();
    let average = [AverageMetrics {
        epoch: 3,
        models: 2,
        val_loss: 0.5,
        val_acc: 0.3,
    }];
    accuracy(&dir.path().join("with.png"), &h, &average, "accuracy").unwrap();
    accuracy(&dir.path().join("without.png"), &h, &[], "accuracy").unwrap();
    // The average is the only blue series (its dot and legend line).
    let blue = |name: &str| {
        let img = image::open(dir.path().join(name)).unwrap().to_rgb8();
        img.pixels()
            .filter(|p| p.0[2] > 200 && p.0[0] < 60 && p.0[1] < 60)
            .count()
    };
    assert!(
        blue("with.png") > 40,
        "with an average: {} blue pixels",
        blue("with.png")
    );
    assert_eq!(blue("without.png"), 0);
}
