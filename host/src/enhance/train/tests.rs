use super::*;
use crate::enhance::eval::{compare, comparison_table, sample_grid};

fn faces(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|k| {
            (0..SIDE * SIDE)
                .map(|i| {
                    let (x, y) = ((i % SIDE) as f32, (i / SIDE) as f32);
                    (120.0 + 50.0 * ((x + k as f32) / 5.0).sin() * (y / 7.0).cos()) as u8
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_short_run_learns_saves_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let config = EnhancerConfig {
        spec: FfaSpec {
            channels: 4,
            groups: 1,
            blocks: 1,
            reduction: 2,
        },
        epochs: 2,
        batch_size: 8,
        lr: 2e-3,
        ..EnhancerConfig::default()
    };
    let train = faces(32);
    let val = EvalSet::new(&faces(8), 7);
    let stop = AtomicBool::new(false);
    let first = fit(
        &EnhancerConfig {
            epochs: 1,
            ..config.clone()
        },
        &train,
        &val,
        dir.path(),
        false,
        &stop,
    )
    .unwrap();
    assert_eq!(first.epochs_done, 1);
    let resumed = fit(&config, &train, &val, dir.path(), true, &stop).unwrap();
    assert_eq!(resumed.epochs_done, 2);
    // The first epoch's figures come back from state.json (JSON keeps them to the last bit
    // or one unit in the last place).
    let (a, b) = (resumed.history[0], first.history[0]);
    assert!(
        (a.train_l1 - b.train_l1).abs() < 1e-12 && a.val_psnr == b.val_psnr,
        "{a:?} {b:?}"
    );
    // The run from scratch gives the same second epoch: resume is exact.
    let again = tempfile::tempdir().unwrap();
    let straight = fit(&config, &train, &val, again.path(), false, &stop).unwrap();
    assert_eq!(straight.history[1].train_l1, resumed.history[1].train_l1);
    assert!(dir.path().join("metrics.csv").is_file() && dir.path().join("curves.png").is_file());
    let best = best_dir(dir.path());
    let state = load_state(&best).unwrap();
    let net = load_net(&best, &state, &Device::flex()).unwrap();
    let rows = compare(&net, &val, &Device::flex());
    assert_eq!(rows[0].faces, 8);
    assert!(comparison_table(&rows).contains("| all | 8 |"));
    let grid = dir.path().join("samples.png");
    sample_grid(&grid, &net, &val, 3, &Device::flex()).unwrap();
    let png = image::open(&grid).unwrap();
    assert_eq!(png.width() as usize, 4 * 96 + 5 * 4);
}

#[test]
fn bad_settings_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let val = EvalSet::new(&faces(2), 1);
    let stop = AtomicBool::new(false);
    let zero = EnhancerConfig {
        epochs: 0,
        ..EnhancerConfig::default()
    };
    assert!(matches!(
        fit(&zero, &faces(4), &val, dir.path(), false, &stop),
        Err(EnhancerError::Config(_))
    ));
    assert!(matches!(
        fit(&EnhancerConfig::default(), &[], &val, dir.path(), false, &stop),
        Err(EnhancerError::Config(_))
    ));
}
