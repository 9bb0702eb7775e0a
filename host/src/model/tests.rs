//! Model tests: parameter count against the spec, inference parity with the exporter's
//! independent reference forward pass, and the weight layouts.

use burn::module::Module;
use burn::tensor::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shared::arch::{Architecture, ConvSpec, Layer, LayerKind, PoolSpec, Shape};

use super::*;
use crate::train::{ImageSet, TrainConfig, Trainer};

fn tiny() -> Architecture {
    // Every layer kind, small enough for quick tests (including a biased conv without BN).
    let c = ConvSpec::new;
    let layer = Layer::new;
    Architecture {
        input: Shape::Spatial { h: 12, w: 12, c: 1 },
        layers: vec![
            layer("conv1", LayerKind::Conv(c(4, 3, 3, 1)), 0.0),
            layer(
                "conv_bias",
                LayerKind::Conv(ConvSpec {
                    batch_norm: false,
                    ..c(4, 3, 3, 1)
                }),
                0.0,
            ),
            layer("pool", LayerKind::MaxPool(PoolSpec::new(2, 2, 0)), 0.25),
            layer(
                "inception",
                LayerKind::Inception(vec![
                    shared::arch::Branch {
                        pool: None,
                        convs: vec![c(3, 1, 1, 2)],
                    },
                    shared::arch::Branch {
                        pool: None,
                        convs: vec![c(2, 1, 1, 1), c(3, 1, 3, 1), c(3, 3, 1, 2)],
                    },
                    shared::arch::Branch {
                        pool: Some(PoolSpec::new(3, 2, 1)),
                        convs: vec![c(2, 1, 1, 1)],
                    },
                ]),
                0.0,
            ),
            layer("flatten", LayerKind::Flatten, 0.0),
            layer("fc", LayerKind::Dense { units: 10, relu: true }, 0.25),
            layer("out", LayerKind::Dense { units: 7, relu: false }, 0.0),
        ],
    }
}

fn random_inputs(n: usize, len: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * len).map(|_| rng.random::<f32>()).collect()
}

#[test]
fn paper_network_parameter_count_matches_the_spec() {
    let arch = Architecture::paper(shared::NUM_CLASSES);
    let net = Network::new(&arch, &Device::flex()).unwrap();
    assert_eq!(net.trainable_params(), arch.num_params().unwrap());
    // burn also counts BatchNorm running statistics (state, not parameters).
    assert_eq!(
        net.num_params(),
        arch.num_params().unwrap() + arch.num_batch_norm_buffers()
    );
}

#[test]
fn bad_architectures_are_errors() {
    let mut arch = Architecture::paper(7);
    arch.layers.remove(6); // no flatten before fc1
    assert!(matches!(Network::new(&arch, &Device::flex()), Err(ModelError::Arch(_))));
    let mut spatial_out = tiny();
    spatial_out.layers.truncate(3);
    assert!(matches!(
        Network::new(&spatial_out, &Device::flex()),
        Err(ModelError::Unsupported(_))
    ));
    let net = Network::new(&tiny(), &Device::flex()).unwrap();
    assert!(matches!(net.logits(&[0.0; 10], 1), Err(ModelError::BatchSize { .. })));
    assert!(matches!(net.logits(&[], 0), Err(ModelError::BatchSize { .. })));
}

/// A trainer of `arch` after three steps on eight seeded random images, so that BatchNorm
/// running statistics are no longer 0 / 1.
fn after_a_few_steps(arch: &Architecture) -> Trainer {
    let config = TrainConfig {
        batch_size: 8,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, arch, None, &ImageSet::default()).unwrap();
    let xs = random_inputs(8, arch.input.len(), 3);
    let ys: Vec<i64> = (0..8).map(|i| i % 7).collect();
    for _ in 0..3 {
        trainer.step(&xs, &ys, 1e-2).unwrap();
    }
    trainer
}

/// After a few training steps (so BatchNorm running statistics are no longer 0 / 1), burn's
/// inference logits equal the exporter's reference pass over the exported, folded weights.
#[test]
fn inference_matches_the_exported_weights_reference() {
    let arch = tiny();
    let trainer = after_a_few_steps(&arch);
    let len = arch.input.len();
    let weights = trainer.model.export_weights();
    // Spec order and layouts.
    assert_eq!(weights.layers.len(), arch.layers.len());
    let LayerWeightsKind::Conv(conv1) = &weights.layers[0].kind else {
        panic!("conv1")
    };
    assert_eq!(conv1.weight.len(), 4 * 9);
    let bn = conv1.batch_norm.as_ref().unwrap();
    assert!(
        bn.running_var.iter().any(|v| (v - 1.0).abs() > 1e-4),
        "running stats should have moved"
    );
    let LayerWeightsKind::Conv(biased) = &weights.layers[1].kind else {
        panic!("conv_bias")
    };
    assert!(biased.batch_norm.is_none() && biased.bias.as_ref().is_some_and(|b| b.len() == 4));
    let LayerWeightsKind::Inception(branches) = &weights.layers[3].kind else {
        panic!("inception")
    };
    assert_eq!(branches[1].convs[1].weight.len(), 3 * 2 * 3);
    assert_eq!(branches[1].convs[1].in_channels, 2);
    let LayerWeightsKind::Dense(fc) = &weights.layers[5].kind else {
        panic!("fc")
    };
    assert_eq!(
        (fc.in_features, fc.out_features, fc.weight.len()),
        (8 * 3 * 3, 10, 8 * 3 * 3 * 10)
    );

    let folded = weights.fold();
    let test = random_inputs(3, len, 9);
    let logits = trainer.model.logits(&test, 3).unwrap();
    assert_eq!(logits.len(), 3 * 7);
    for i in 0..3 {
        let reference = folded.reference_logits(&test[i * len..(i + 1) * len]);
        for (a, b) in logits[i * 7..(i + 1) * 7].iter().zip(&reference) {
            assert!(
                (a - b).abs() < 1e-3 * (1.0 + b.abs()),
                "image {i}: burn {a} vs reference {b}"
            );
        }
    }
    // Inference is deterministic (no dropout) and independent of the training mode.
    assert_eq!(trainer.model.logits(&test, 3).unwrap(), logits);
    // BatchNorm folded into burn's convolutions computes the same function.
    let folded_net = trainer.model.folded();
    let folded_logits = folded_net.logits(&test, 3).unwrap();
    // Each of the 17 BatchNorm channels trades gamma and beta for one bias.
    assert_eq!(folded_net.trainable_params() + 17, trainer.model.trainable_params());
    for (a, b) in folded_logits.iter().zip(&logits) {
        assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "folded {a} vs {b}");
    }
}

#[test]
fn paper_network_runs_and_exports_in_spec_order() {
    let arch = Architecture::paper(7);
    let device = Device::flex();
    device.seed(1);
    let net = Network::new(&arch, &device).unwrap();
    let x = random_inputs(2, arch.input.len(), 1);
    let logits = net.logits(&x, 2).unwrap();
    assert_eq!(logits.len(), 14);
    assert!(logits.iter().all(|v| v.is_finite()));
    let w = net.export_weights();
    let names: Vec<&str> = w.layers.iter().map(|l| l.name.as_str()).collect();
    let spec: Vec<&str> = arch.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, spec);
    assert_eq!(w.input_chw, [1, 48, 48]);
    let LayerWeightsKind::Inception(b) = &w.layers[4].kind else {
        panic!("inception_b")
    };
    assert_eq!(b[2].convs.len(), 5);
    assert_eq!(b[2].convs[4].spec.kernel, [1, 3]);
    assert_eq!(b[2].convs[4].weight.len(), 128 * 96 * 3);
}

#[test]
fn same_seed_same_initialisation() {
    let arch = tiny();
    // Seeded from its own generator: independent of the process-wide device RNG that other
    // tests running in parallel draw from.
    let make = |seed| Network::seeded(&arch, &Device::flex(), seed).unwrap().export_weights();
    assert_eq!(make(5), make(5));
    assert_ne!(make(5), make(6));
}

/// A trained network exported to int8, read back and unfolded computes what the int8 model
/// computes, in both BatchNorm modes: with running statistics and, on the images its
/// statistics came from, with batch statistics (what the first training step sees).
#[test]
fn int8_model_reads_back_into_a_trainable_network() {
    use crate::export::float_graph::{self, Exposed};
    use crate::export::{Calibration, WeightScales, build_graphs, calibrate, read_back, run_tract};

    let mut arch = tiny();
    arch.layers.iter_mut().for_each(|l| l.dropout = 0.0);
    let trainer = after_a_few_steps(&arch);
    let len = arch.input.len();
    let original = trainer.model.export_weights().fold();
    let images: Vec<Vec<f32>> = random_inputs(32, len, 4).chunks(len).map(<[f32]>::to_vec).collect();
    let (_, int8) = build_graphs(
        &original,
        &images,
        Calibration::MinMax,
        WeightScales::PerChannel,
        (0.0, 1.0),
    )
    .unwrap();

    let back = read_back::folded_from_int8(&int8, "tiny", &arch).unwrap();
    // Each weight within half a quantisation step of the original (per-channel scale
    // max|w| / 127).
    let convs = |n: &crate::export::FoldedNetwork| {
        let mut all = Vec::new();
        for l in &n.layers {
            match &l.layer {
                crate::export::folded::FoldedLayer::Conv(c) => all.push(c.weight.clone()),
                crate::export::folded::FoldedLayer::Inception(bs) => bs
                    .iter()
                    .flat_map(|b| &b.convs)
                    .for_each(|c| all.push(c.weight.clone())),
                _ => {}
            }
        }
        all
    };
    for (a, b) in convs(&original).iter().zip(convs(&back)) {
        let step = a.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 0.5 * step * 1.001 + 1e-7, "{x} read back as {y}");
        }
    }

    // The first convolution stays float in the int8 graph: it reads back exactly.
    let first = |n: &crate::export::FoldedNetwork| match &n.layers[0].layer {
        crate::export::folded::FoldedLayer::Conv(c) => (c.weight.clone(), c.bias.clone()),
        other => panic!("the tiny network starts with {other:?}"),
    };
    assert_eq!(first(&back), first(&original));

    let (graph, names) = float_graph::build(&back, Exposed::PreActivations);
    assert_eq!(names.len(), 7, "one pre-activation per convolution: {names:?}");
    let moments = calibrate::channel_moments(&graph, back.input_chw, &names, &images).unwrap();
    let device = Device::flex();
    let model = Network::unfold(&arch, &back, &moments, &device).unwrap();
    assert_eq!(model.trainable_params(), trainer.model.trainable_params());
    let test = random_inputs(3, len, 9);
    let logits = model.logits(&test, 3).unwrap();

    // `--init-from FILE.onnx` makes the same network, with or without a manifest beside the
    // file (its moments from the same images, in the run's seeded order).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.onnx");
    std::fs::write(&file, &int8).unwrap();
    let n = images.len();
    let train = ImageSet {
        inputs: images.concat(),
        labels: vec![0; n],
        datasets: vec![crate::data::DatasetKind::CkPlus; n],
        votes: vec![[0; shared::NUM_CLASSES]; n],
        per_image: len,
    };
    let run = TrainConfig::default().data;
    let without_manifest = crate::train::init::initial_model(Some(&file), &arch, &device, &run, &train).unwrap();
    artifacts::manifest::write_model(&file, &int8, artifacts::manifest::for_tests()).unwrap();
    let with_manifest = crate::train::init::initial_model(Some(&file), &arch, &device, &run, &train).unwrap();
    for initial in [without_manifest, with_manifest] {
        for (a, b) in initial.logits(&test, 3).unwrap().iter().zip(&logits) {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "--init-from {a} vs {b}");
        }
    }
    for i in 0..3 {
        let int8_logits = run_tract(&int8, back.input_chw, &test[i * len..(i + 1) * len]).unwrap();
        let reference = back.reference_logits(&test[i * len..(i + 1) * len]);
        for ((a, b), q) in logits[i * 7..(i + 1) * 7].iter().zip(&reference).zip(&int8_logits) {
            assert!(
                (a - b).abs() < 1e-3 * (1.0 + b.abs()),
                "image {i}: burn {a} vs reference {b}"
            );
            assert!((a - q).abs() < 0.1 * (1.0 + q.abs()), "image {i}: burn {a} vs int8 {q}");
        }
    }
    // Batch statistics of the moment images are the moments themselves.
    let all: Vec<f32> = images.concat();
    let train_device = device.clone().autodiff();
    let trainable = Network::unfold(&arch, &back, &moments, &train_device).unwrap();
    let x = batch_to_tensor(&arch, &all, images.len(), &train_device).unwrap();
    let trained_mode: Vec<f32> = trainable.forward(x).into_data().iter::<f32>().collect();
    let running_mode = model.logits(&all, images.len()).unwrap();
    for (a, b) in trained_mode.iter().zip(&running_mode) {
        assert!(
            (a - b).abs() < 1e-2 * (1.0 + b.abs()),
            "batch statistics {a} vs running {b}"
        );
    }

    // Not a model, and a model of another architecture: errors that say so.
    let err = read_back::folded_from_int8(b"not onnx", "junk", &arch).unwrap_err();
    assert!(err.to_string().contains("not an ONNX model"), "{err}");
    let err = read_back::folded_from_int8(&int8, "tiny", &Architecture::paper(7)).unwrap_err();
    assert!(err.to_string().contains("reading tiny back"), "{err}");
    let mut missing = moments.clone();
    missing.remove(&float_graph::pre_activation("conv1"));
    assert!(matches!(
        Network::unfold(&arch, &back, &missing, &device),
        Err(ModelError::Unsupported(_))
    ));
}
