//! Training on real CK+ images: a few Adam steps of the paper's network on one fixed batch
//! make the training loss fall and the batch accuracy (inference mode) beat chance.
//!
//! Kept small so it runs in the dev profile within a couple of minutes on two cores; the full
//! training regime is exercised by `host train` itself.

use host::data::{DataSelection, DatasetKind, PrepareConfig, load_splits};
use host::eval::evaluate;
use host::train::{ImageSet, TrainConfig, Trainer};
use shared::arch::Architecture;
use shared::preprocess::Preprocessing;

const BATCH: usize = 32;
const STEPS: usize = 14;
/// Lower than the paper's 0.001: on one fixed batch the first Adam steps at 0.001 overshoot
/// before they settle, which a test this short would mistake for not learning.
const LR: f64 = 2e-4;

#[test]
fn a_few_steps_on_real_ckplus_images_learn() {
    let Some(data) = vigil_tests::data_dir("a_few_steps_on_real_ckplus_images_learn") else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let prepare = PrepareConfig {
        data: DataSelection {
            data_root: data,
            datasets: vec![DatasetKind::CkPlus],
            cache_dir: cache.path().to_path_buf(),
            ..DataSelection::default()
        },
        ..PrepareConfig::default()
    };
    let splits = load_splits(&prepare).unwrap();
    let arch = Architecture::paper(shared::NUM_CLASSES);
    let all = ImageSet::from_samples(&splits.train, Preprocessing::default().normalization, arch.input.len());
    assert!(all.len() > 500, "CK+ training split has {} images", all.len());

    // One fixed batch spread over the split (which is stored grouped by class).
    let stride = all.len() / BATCH;
    let indices: Vec<usize> = (0..BATCH).map(|i| i * stride).collect();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    all.gather(&indices, &mut xs, &mut ys);
    let batch = ImageSet {
        inputs: xs.clone(),
        labels: ys.iter().map(|&y| y as u8).collect(),
        datasets: vec![DatasetKind::CkPlus; BATCH],
        votes: vec![[0; shared::NUM_CLASSES]; BATCH],
        per_image: all.per_image,
    };
    let mut counts = [0usize; shared::NUM_CLASSES];
    batch.labels.iter().for_each(|&l| counts[l as usize] += 1);
    let majority = *counts.iter().max().unwrap() as f64 / BATCH as f64;
    assert!(
        counts.iter().filter(|&&c| c > 0).count() >= 4,
        "batch should mix classes: {counts:?}"
    );

    let out = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        data: DataSelection {
            seed: 7,
            ..TrainConfig::default().data
        },
        batch_size: BATCH,
        out_dir: out.path().to_path_buf(),
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, &arch, None, &ImageSet::default()).unwrap();
    let (mut losses, mut correct) = (Vec::new(), Vec::new());
    for _ in 0..STEPS {
        let (loss, ok) = trainer.step(&xs, &ys, LR).unwrap();
        losses.push(loss);
        correct.push(ok);
    }
    eprintln!("losses {losses:?}, correct {correct:?} of {BATCH}, majority class {majority:.3}");
    let mean = |l: &[f64]| l.iter().sum::<f64>() / l.len() as f64;
    let (first, last) = (mean(&losses[..3]), mean(&losses[STEPS - 3..]));
    assert!(last < 0.85 * first, "training loss should fall by 15%: {losses:?}");
    // Accuracy on the batch in training mode (as the step saw it, dropout active) beats always
    // answering the batch's most common class.
    let last_acc = correct[STEPS - 2..].iter().sum::<usize>() as f64 / (2 * BATCH) as f64;
    assert!(
        last_acc > majority,
        "batch accuracy {last_acc} should beat the majority class {majority}"
    );
    // Inference mode runs on the same batch (its running statistics are young, so only sanity).
    let eval = evaluate(&trainer.model, &batch, BATCH).unwrap();
    assert_eq!(eval.predictions.len(), BATCH);
    assert!(eval.loss.is_finite());
}
