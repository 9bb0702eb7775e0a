//! Training-loop tests on synthetic images with a tiny architecture: learning happens,
//! checkpoints resume, a foreign architecture is refused, the stop flag saves and stops.

use shared::arch::{Architecture, ConvSpec, Layer, LayerKind, PoolSpec, Shape};

use super::augment::Augmentation;
use super::checkpoint::{self, CheckpointError};
use super::config::{ConfigError, LabelMode};
use super::*;
use crate::data::{DataSelection, DatasetKind};
use crate::eval::evaluate;
use crate::export::Views;
use crate::model::Network;
use burn::module::Module;
use burn::tensor::Device;

fn tiny() -> Architecture {
    let c = ConvSpec::new;
    let layer = Layer::new;
    Architecture {
        input: Shape::Spatial { h: 8, w: 8, c: 1 },
        layers: vec![
            layer("conv1", LayerKind::Conv(c(4, 3, 3, 1)), 0.0),
            layer("pool", LayerKind::MaxPool(PoolSpec::new(2, 2, 0)), 0.0),
            layer("flatten", LayerKind::Flatten, 0.0),
            layer("fc", LayerKind::Dense { units: 16, relu: true }, 0.1),
            layer("out", LayerKind::Dense { units: 7, relu: false }, 0.0),
        ],
    }
}

/// Two easily separable classes: bright left half (angry) vs bright right half (happy).
fn synthetic(n: usize) -> ImageSet {
    let mut set = ImageSet {
        per_image: 64,
        ..ImageSet::default()
    };
    for i in 0..n {
        let label = if i % 2 == 0 { 0u8 } else { 3 };
        for y in 0..8 {
            for x in 0..8 {
                let bright = (x < 4) == (label == 0);
                let noise = ((i * 31 + y * 7 + x * 13) % 10) as f32 / 50.0;
                set.inputs.push(if bright { 0.8 + noise } else { 0.1 + noise });
            }
        }
        set.labels.push(label);
        set.datasets.push(DatasetKind::CkPlus);
        set.votes.push([0; shared::NUM_CLASSES]);
    }
    set
}

/// Trains [`tiny`] for 6 epochs with [`config`] changed by `set`, in a temporary run
/// directory; the last epoch's metrics.
fn last_epoch(train: &ImageSet, val: &ImageSet, set: impl FnOnce(&mut TrainConfig)) -> EpochMetrics {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), 6);
    set(&mut c);
    let outcome = Trainer::new(c, &tiny(), None, &ImageSet::default())
        .unwrap()
        .fit(train, val, &|| false)
        .unwrap();
    *outcome.state.history.last().unwrap()
}

fn config(dir: &std::path::Path, epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 8,
        lr: 5e-3,
        out_dir: dir.to_path_buf(),
        schedule: ScheduleKind::Fixed,
        ..TrainConfig::default()
    }
}

#[test]
fn learns_checkpoints_resumes_and_refuses_other_architectures() {
    let dir = tempfile::tempdir().unwrap();
    let arch = tiny();
    let (train, val) = (synthetic(32), synthetic(8));
    let stop = || false;
    let outcome = Trainer::new(config(dir.path(), 4), &arch, None, &ImageSet::default())
        .unwrap()
        .fit(&train, &val, &stop)
        .unwrap();
    let h = &outcome.state.history;
    assert_eq!(h.len(), 4);
    assert!(h[3].train_loss < h[0].train_loss, "loss should fall: {h:?}");
    assert!(h[3].val_acc > 0.5, "validation accuracy should beat chance: {h:?}");
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().next().unwrap(), <EpochMetrics as CsvRow>::CSV_HEADER);
    assert_eq!(csv.lines().count(), 5);
    let best = outcome.state.best.unwrap();
    let best_eval = evaluate(&outcome.best_model, &val, 4).unwrap();
    assert!(
        (best_eval.accuracy() - best.val_acc).abs() < 1e-9,
        "best model is the best epoch's"
    );

    // Resume with more epochs: continues after epoch 4, same data, history grows.
    let last = checkpoint::last_dir(dir.path());
    let resumed = Trainer::new(config(dir.path(), 5), &arch, Some(&last), &ImageSet::default()).unwrap();
    assert_eq!(resumed.state.epochs_done, 4);
    let outcome = resumed.fit(&train, &val, &stop).unwrap();
    assert_eq!(outcome.state.history.len(), 5);
    for (a, b) in outcome.state.history[..4].iter().zip(h) {
        // The history went through JSON: equal up to float printing.
        assert_eq!(a.epoch, b.epoch);
        assert!((a.train_loss - b.train_loss).abs() < 1e-12 && (a.val_loss - b.val_loss).abs() < 1e-12);
    }

    // The paper architecture cannot load this checkpoint: a clear error naming the layer.
    let paper = Architecture::paper(7);
    let err = checkpoint::load_state(&last, Some(&paper)).unwrap_err();
    assert!(matches!(err, CheckpointError::Architecture { .. }), "{err}");
    assert!(err.to_string().contains("another architecture"), "{err}");
    assert!(Trainer::new(config(dir.path(), 5), &paper, Some(&last), &ImageSet::default()).is_err());
    // A missing checkpoint and a damaged state file are errors too.
    assert!(matches!(
        checkpoint::load_state(&dir.path().join("nope"), None),
        Err(CheckpointError::Missing(_))
    ));
    std::fs::write(last.join(checkpoint::STATE_FILE), b"{\"format_version\": 99}").unwrap();
    assert!(matches!(
        checkpoint::load_state(&last, None),
        Err(CheckpointError::Version { found: 99, .. })
    ));
}

#[test]
fn stop_flag_saves_a_checkpoint_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let stop = || true;
    let outcome = Trainer::new(config(dir.path(), 3), &tiny(), None, &ImageSet::default())
        .unwrap()
        .fit(&synthetic(16), &synthetic(4), &stop)
        .unwrap();
    assert!(outcome.interrupted);
    let state = checkpoint::load_state(&checkpoint::last_dir(dir.path()), Some(&tiny())).unwrap();
    assert!(state.interrupted);
    assert_eq!(state.epochs_done, 0);
}

#[test]
fn bad_settings_and_empty_data_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let arch = tiny();
    let stop = || false;
    let mut c = config(dir.path(), 1);
    c.batch_size = 0;
    assert!(matches!(
        Trainer::new(c, &arch, None, &ImageSet::default()),
        Err(TrainError::Config(_))
    ));
    for mixup in [-0.2, f32::NAN] {
        let c = TrainConfig {
            mixup,
            ..config(dir.path(), 1)
        };
        assert!(matches!(
            Trainer::new(c, &arch, None, &ImageSet::default()),
            Err(TrainError::Config(ConfigError::Mixup(_)))
        ));
    }
    let empty = ImageSet {
        per_image: 64,
        ..ImageSet::default()
    };
    let trainer = Trainer::new(config(dir.path(), 1), &arch, None, &ImageSet::default()).unwrap();
    assert!(matches!(
        trainer.fit(&empty, &synthetic(4), &stop),
        Err(TrainError::EmptySplit(_))
    ));
    // A batch far beyond memory is refused up front with a suggestion, not an abort.
    let mut huge = config(dir.path(), 1);
    huge.batch_size = 1 << 40;
    let paper = Architecture::paper(7);
    match Trainer::new(huge, &paper, None, &ImageSet::default()) {
        Err(e @ TrainError::OutOfMemory { .. }) => {
            assert!(e.to_string().contains("--batch-size"), "{e}")
        }
        Err(other) => panic!("expected OutOfMemory, got {other}"),
        Ok(_) => panic!("expected OutOfMemory"),
    }
    assert!(device_for(BackendKind::Flex).is_ok());
}

/// The synthetic task is "which half is bright": mirroring turns one class into the other,
/// so a run with `flip` must fail to learn it while the same run without learns it. This
/// shows the mirror really reaches the training batches, and only them (validation images
/// are never flipped, so the unflipped run's validation accuracy is the reference).
#[test]
fn flipping_training_images_erases_a_left_right_cue() {
    let (train, val) = (synthetic(32), synthetic(8));
    let plain = last_epoch(&train, &val, |c| c.flip = false);
    let flipped = last_epoch(&train, &val, |c| c.flip = true);
    assert!(plain.train_acc > 0.9, "without flips the cue is learnt: {plain:?}");
    assert!(flipped.train_acc < 0.75, "with flips the cue is noise: {flipped:?}");
}

/// `host eval --views mirrored` scores a face by the mean logits of the face and its mirror
/// image: its results do not change when every image is mirrored, while one view's do (the
/// synthetic set's classes are mirror images of each other).
#[test]
fn mirrored_evaluation_does_not_see_the_mirror() {
    let device = Device::flex();
    let model = Network::new(&tiny(), &device).unwrap();
    let set = synthetic(16);
    let mut mirrored = set.clone();
    ImageSet::mirror(&mut mirrored.inputs, 64, 8, || true);
    let eval = |set: &ImageSet, views| crate::eval::evaluate_views(&model, set, 4, views).unwrap();
    let (a, b) = (eval(&set, Views::Single), eval(&mirrored, Views::Single));
    assert!(
        (a.loss - b.loss).abs() > 1e-4,
        "one view sees the mirror: {} vs {}",
        a.loss,
        b.loss
    );
    let (a, b) = (eval(&set, Views::Mirrored), eval(&mirrored, Views::Mirrored));
    assert_eq!(a.predictions, b.predictions);
    assert!((a.loss - b.loss).abs() < 1e-5, "{} vs {}", a.loss, b.loss);
}

/// Soft targets reach the loss: every training label says "angry", but the votes say
/// "happy" for the right-bright images. Trained on the votes the model learns the cue;
/// trained on the labels it cannot (they carry no information).
#[test]
fn vote_distributions_are_what_probability_targets_train_on() {
    let mut train = synthetic(32);
    for (label, votes) in train.labels.iter_mut().zip(&mut train.votes) {
        votes[usize::from(*label)] = 9;
        votes[0] += 1;
        *label = 0;
    }
    let val = synthetic(8);
    let soft = last_epoch(&train, &val, |c| c.labels = LabelMode::Probability).val_acc;
    let hard = last_epoch(&train, &val, |c| c.labels = LabelMode::Majority).val_acc;
    assert!(soft > 0.9, "votes carry the cue: {soft}");
    assert!(hard <= 0.5, "labels carry nothing: {hard}");
}

/// `--init-from` starts from the other run's best weights, and augmentation changes what the
/// training batches hold (a run with it ends with other weights than one without).
#[test]
fn init_from_loads_the_best_weights_and_augmentation_and_mixup_reach_the_batches() {
    let arch = tiny();
    let (train, val) = (synthetic(32), synthetic(8));
    let stop = || false;
    let first = tempfile::tempdir().unwrap();
    let outcome = Trainer::new(config(first.path(), 2), &arch, None, &ImageSet::default())
        .unwrap()
        .fit(&train, &val, &stop)
        .unwrap();
    let reference = outcome.best_model.logits(&val.inputs, val.len()).unwrap();

    let second = tempfile::tempdir().unwrap();
    let init = Trainer::new(
        TrainConfig {
            data: DataSelection {
                seed: 7,
                ..config(second.path(), 1).data
            },
            init_from: Some(first.path().to_path_buf()),
            ..config(second.path(), 1)
        },
        &arch,
        None,
        &ImageSet::default(),
    )
    .unwrap();
    assert_eq!(init.model.logits(&val.inputs, val.len()).unwrap(), reference);
    let missing = TrainConfig {
        init_from: Some(second.path().join("nothing")),
        ..config(second.path(), 1)
    };
    assert!(Trainer::new(missing, &arch, None, &ImageSet::default()).is_err());

    // Without dropout (whose generator is shared by concurrently running tests) training is a
    // pure function of the seed.
    let mut arch = arch;
    arch.layers.iter_mut().for_each(|l| l.dropout = 0.0);
    let run = |augment: Augmentation, mixup: f32| {
        let dir = tempfile::tempdir().unwrap();
        let outcome = Trainer::new(
            TrainConfig {
                augment,
                mixup,
                ..config(dir.path(), 1)
            },
            &arch,
            None,
            &ImageSet::default(),
        )
        .unwrap()
        .fit(&train, &val, &stop)
        .unwrap();
        outcome.best_model.logits(&val.inputs, val.len()).unwrap()
    };
    let plain = run(Augmentation::OFF, 0.0);
    assert_eq!(plain, run(Augmentation::OFF, 0.0), "training is deterministic");
    assert_ne!(plain, run(Augmentation::WILD, 0.0));
    let mixed = run(Augmentation::OFF, 0.4);
    assert_eq!(mixed, run(Augmentation::OFF, 0.4), "mixup is seeded");
    assert_ne!(plain, mixed);
}

/// A save interrupted between moving the old checkpoint aside and renaming the new one in
/// leaves `.last.old`; loading restores it instead of failing.
#[test]
fn a_checkpoint_caught_between_its_renames_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let stop = || false;
    Trainer::new(config(dir.path(), 1), &tiny(), None, &ImageSet::default())
        .unwrap()
        .fit(&synthetic(16), &synthetic(4), &stop)
        .unwrap();
    let last = checkpoint::last_dir(dir.path());
    let aside = last.with_file_name(".last.old");
    assert!(!aside.exists(), "a completed save leaves nothing aside");
    std::fs::rename(&last, &aside).unwrap();
    let state = checkpoint::load_state(&last, Some(&tiny())).unwrap();
    assert_eq!(state.epochs_done, 1);
    assert!(last.join(checkpoint::MODEL_FILE).is_file() && !aside.exists());
}

/// Copies a run's `checkpoints/` (two levels of files) to another run directory: what a
/// machine killed at that moment leaves behind.
fn copy_checkpoints(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from.join("checkpoints")).unwrap() {
        let entry = entry.unwrap();
        let target = to.join("checkpoints").join(entry.file_name());
        std::fs::create_dir_all(&target).unwrap();
        for file in std::fs::read_dir(entry.path()).unwrap() {
            let file = file.unwrap();
            std::fs::copy(file.path(), target.join(file.file_name())).unwrap();
        }
    }
}

/// A run killed in the middle of an epoch (its periodic save is all that is left) and one
/// stopped there both resume batch for batch: they end with the weights and the epoch
/// metrics of the run that was never interrupted, flips and augmentation included.
#[test]
fn a_run_killed_or_stopped_mid_epoch_resumes_batch_for_batch() {
    let mut arch = tiny();
    // Dropout's generator is shared by concurrently running tests.
    arch.layers.iter_mut().for_each(|l| l.dropout = 0.0);
    // 40 images in batches of 8: 5 batches an epoch.
    let (train, val) = (synthetic(40), synthetic(8));
    let config = |dir: &std::path::Path| TrainConfig {
        augment: Augmentation::WILD,
        flip: true,
        ..config(dir, 2)
    };
    let final_logits = |dir: &std::path::Path| {
        let last = checkpoint::last_dir(dir);
        let state = checkpoint::load_state(&last, Some(&arch)).unwrap();
        assert_eq!((state.epochs_done, state.partial), (2, None));
        let model = checkpoint::load_model(&last, &state, &Device::flex()).unwrap();
        (model.logits(&val.inputs, val.len()).unwrap(), state.history)
    };

    // The reference run saves after every batch; before the 4th batch of epoch 2 (the 9th
    // question whether to stop) its checkpoint is copied away, as a kill would leave it.
    let (reference, killed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let asked = std::cell::Cell::new(0);
    let mut trainer = Trainer::new(config(reference.path()), &arch, None, &ImageSet::default()).unwrap();
    trainer.save_every = Some(std::time::Duration::ZERO);
    let outcome = trainer
        .fit(&train, &val, &|| {
            asked.set(asked.get() + 1);
            if asked.get() == 9 {
                copy_checkpoints(reference.path(), killed.path());
            }
            false
        })
        .unwrap();
    assert!(!outcome.interrupted);
    let (expected, history) = final_logits(reference.path());

    let left = checkpoint::load_state(&checkpoint::last_dir(killed.path()), Some(&arch)).unwrap();
    let partial = left.partial.expect("the periodic save records the unfinished epoch");
    assert_eq!(
        (left.epochs_done, partial.epoch, partial.batches, partial.images),
        (1, 2, 3, 24)
    );

    // The same point reached by a stop request instead.
    let stopped = tempfile::tempdir().unwrap();
    let asked = std::cell::Cell::new(0);
    let outcome = Trainer::new(config(stopped.path()), &arch, None, &ImageSet::default())
        .unwrap()
        .fit(&train, &val, &|| {
            asked.set(asked.get() + 1);
            asked.get() == 9
        })
        .unwrap();
    assert!(outcome.interrupted);
    let left = checkpoint::load_state(&checkpoint::last_dir(stopped.path()), Some(&arch)).unwrap();
    let timeless = |p: checkpoint::PartialEpoch| checkpoint::PartialEpoch { seconds: 0.0, ..p };
    assert_eq!(left.partial.map(timeless), Some(timeless(partial)));

    for dir in [killed.path(), stopped.path()] {
        let last = checkpoint::last_dir(dir);
        Trainer::new(config(dir), &arch, Some(&last), &ImageSet::default())
            .unwrap()
            .fit(&train, &val, &|| false)
            .unwrap();
        let (logits, resumed_history) = final_logits(dir);
        assert_eq!(logits, expected, "{} resumed to other weights", dir.display());
        for (a, b) in resumed_history.iter().zip(&history) {
            assert_eq!(
                (a.epoch, a.train_loss, a.train_acc, a.val_loss, a.val_acc),
                (b.epoch, b.train_loss, b.train_acc, b.val_loss, b.val_acc)
            );
        }
    }
}

#[test]
fn weight_averages_fold_exactly_and_replace_a_networks_tensors() {
    let mut mean = vec![vec![1.0f32, -2.0], vec![4.0]];
    average::fold_in(&mut mean, &[vec![3.0, 2.0], vec![-4.0]], 1);
    average::fold_in(&mut mean, &[vec![5.0, 3.0], vec![3.0]], 2);
    assert_eq!(mean, vec![vec![3.0, 1.0], vec![1.0]]);

    let arch = tiny();
    let device = Device::flex();
    let (a, b) = (
        Network::seeded(&arch, &device, 1).unwrap(),
        Network::seeded(&arch, &device, 2).unwrap(),
    );
    let x = synthetic(4);
    let b_values = average::float_tensors(&b);
    assert_ne!(average::float_tensors(&a), b_values);
    let a_as_b = average::with_float_tensors(a.clone(), &b_values).unwrap();
    assert_eq!(
        a_as_b.logits(&x.inputs, x.len()).unwrap(),
        b.logits(&x.inputs, x.len()).unwrap()
    );
    let short = &b_values[..b_values.len() - 1];
    assert!(average::with_float_tensors(a.clone(), short).is_err());
    let mut wrong = b_values.clone();
    wrong[0].push(0.0);
    assert!(average::with_float_tensors(a, &wrong).is_err());
}

/// The values of `model`'s first BatchNorm's running mean and variance in
/// [`average::float_tensors`]' list.
fn first_running_stats(model: &Network, values: &[Vec<f32>]) -> usize {
    let weights = model.export_weights();
    let bn = weights
        .layers
        .iter()
        .find_map(|l| match &l.kind {
            crate::model::LayerWeightsKind::Conv(c) => c.batch_norm.clone(),
            _ => None,
        })
        .expect("tiny's conv1 has a BatchNorm");
    values
        .windows(2)
        .position(|w| w[0] == bn.running_mean && w[1] == bn.running_var)
        .expect("running statistics are among the float tensors")
}

#[test]
fn an_averaging_run_validates_checkpoints_and_resumes_its_average() {
    let mut arch = tiny();
    arch.layers.iter_mut().for_each(|l| l.dropout = 0.0);
    let (train, val) = (synthetic(32), synthetic(8));
    let run = |dir: &std::path::Path, epochs: usize, resume: bool| {
        let c = TrainConfig {
            average_from: Some(2),
            ..config(dir, epochs)
        };
        let last = checkpoint::last_dir(dir);
        Trainer::new(c, &arch, resume.then_some(last.as_path()), &ImageSet::default())
            .unwrap()
            .fit(&train, &val, &|| false)
            .unwrap()
    };
    let (whole, split) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let outcome = run(whole.path(), 4, false);
    let average = outcome.state.average.clone().expect("epochs 2-4 were averaged");
    assert_eq!(average.models, 3);
    assert_eq!(average.history.iter().map(|m| m.epoch).collect::<Vec<_>>(), [2, 3, 4]);
    let csv = std::fs::read_to_string(whole.path().join("average.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        <average::AverageMetrics as CsvRow>::CSV_HEADER
    );
    assert_eq!(csv.lines().count(), 4);
    let best = outcome.state.best.unwrap();
    let best_eval = evaluate(&outcome.best_model, &val, 4).unwrap();
    assert!((best_eval.accuracy() - best.val_acc).abs() < 1e-9, "{best:?}");

    // Stopped after epoch 3 and continued: the same average, validated the same.
    run(split.path(), 3, false);
    let resumed = run(split.path(), 4, true).state.average.unwrap();
    assert_eq!(resumed.models, average.models);
    assert_eq!(resumed.history.len(), average.history.len());
    for (a, b) in resumed.history.iter().zip(&average.history) {
        // Epochs 2-3 went through JSON: equal up to float printing.
        assert_eq!((a.epoch, a.models, a.val_acc), (b.epoch, b.models, b.val_acc));
        assert!((a.val_loss - b.val_loss).abs() < 1e-12, "{a:?} vs {b:?}");
    }
    let device = Device::flex();
    let load = |dir: &std::path::Path| {
        let last = checkpoint::last_dir(dir);
        let state = checkpoint::load_state(&last, Some(&arch)).unwrap();
        checkpoint::load_average(&last, &state, &device).unwrap().unwrap()
    };
    assert_eq!(load(split.path()), load(whole.path()));

    // One snapshot is the model itself, running statistics included.
    let one = tempfile::tempdir().unwrap();
    let c = TrainConfig {
        average_from: Some(2),
        ..config(one.path(), 2)
    };
    Trainer::new(c, &arch, None, &ImageSet::default())
        .unwrap()
        .fit(&train, &val, &|| false)
        .unwrap();
    let last = checkpoint::last_dir(one.path());
    let state = checkpoint::load_state(&last, Some(&arch)).unwrap();
    let model = checkpoint::load_model(&last, &state, &device).unwrap().valid();
    let values = checkpoint::load_average(&last, &state, &device).unwrap().unwrap();
    assert_eq!(values, average::float_tensors(&model));

    // The refresh re-measures BatchNorm statistics: spoiled ones do not survive it.
    let at = first_running_stats(&model, &values);
    let mut spoiled = values.clone();
    spoiled[at].iter_mut().for_each(|m| *m += 100.0);
    spoiled[at + 1].iter_mut().for_each(|v| *v = 1e-4);
    let refreshed = average::refreshed(&arch, &spoiled, &train, 8, 42, &device.clone().autodiff()).unwrap();
    let measured = average::float_tensors(&refreshed);
    let trained_mean = &values[at];
    for (m, t) in measured[at].iter().zip(trained_mean) {
        assert!((m - t).abs() < 1.0, "running mean {m} after the refresh, {t} trained");
    }
    let (a, b) = (
        evaluate(&refreshed, &val, 4).unwrap().accuracy(),
        evaluate(&model, &val, 4).unwrap().accuracy(),
    );
    assert_eq!(a, b, "the refreshed model classifies as the trained one");
    let stale = average::with_float_tensors(Network::new(&arch, &device).unwrap(), &spoiled).unwrap();
    assert!(
        evaluate(&stale, &val, 4).unwrap().accuracy() < b,
        "spoiled statistics should hurt"
    );
}

#[test]
fn flushing_makes_subnormal_results_and_inputs_zero_on_the_thread() {
    // A thread of its own, so the switch touches no other test's arithmetic.
    std::thread::spawn(|| {
        // Each operand passes through `black_box` right before its operation, so the
        // compiler can neither fold the arithmetic nor move it across the switch.
        let halve = || std::hint::black_box(f32::MIN_POSITIVE) / 2.0;
        let scale_up = || std::hint::black_box(f32::from_bits(1)) * 1.0e30;
        if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            return; // no switch on this CPU architecture
        }
        assert!(halve() > 0.0 && scale_up() > 0.0, "gradual underflow by default");
        assert!(resources::set_flush_on_this_thread(true));
        assert_eq!(halve(), 0.0, "a subnormal result");
        assert_eq!(scale_up(), 0.0, "a subnormal input");
        resources::set_flush_on_this_thread(false);
        assert!(halve() > 0.0, "gradual underflow again");
        assert!(scale_up() > 0.0);
    })
    .join()
    .unwrap();
}
