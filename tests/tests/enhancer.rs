//! A classifier trained behind a learned face enhancer: its manifest names the enhancer (file
//! and SHA-256); `edge classify` finds it beside the model, runs it between the crop and the
//! recipe's classical enhancement, and refuses the model when the enhancer is missing, differs
//! from the one recorded, or is named by a path instead of a file beside the model.
//!
//! The enhancer is a small random FFA network exported by the host (not the identity, so a
//! skipped enhancer changes the scores); the classifier is the shipped int8 model with its
//! manifest rewritten to name it. No dataset is needed.

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use edge::commands::classify::{ClassifyArgs, Crop, run_to};
use edge::inference::face::FacePipeline;
use host::data::DataSelection;
use host::enhance::FfaNet;
use shared::enhancer::FfaSpec;
use shared::wire::{EnhancerManifest, ModelManifest, Quantization};
use shared::{FaceBox, GrayImage, INPUT_SIZE};

/// The test enhancer's widths: small, every part present.
const SPEC: FfaSpec = FfaSpec {
    channels: 4,
    groups: 2,
    blocks: 1,
    reduction: 2,
};

fn enhancer_onnx() -> Vec<u8> {
    let device = Device::flex();
    let mut net = FfaNet::new(&SPEC, &device, 5);
    // The last convolution starts at zero (the identity); a fixed ramp makes it restore
    // something.
    let weights: Vec<f32> = (0..4 * 9).map(|i| (i as f32 - 18.0) / 60.0).collect();
    net.tail2.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weights, [1, 4, 3, 3]), &device));
    host::enhance::export::onnx(&net, INPUT_SIZE)
}

fn enhancer_manifest() -> EnhancerManifest {
    EnhancerManifest {
        format_version: shared::wire::WIRE_VERSION,
        name: "test-enhancer".into(),
        spec: SPEC,
        side: INPUT_SIZE as u32,
        quantization: Quantization::Float32,
        metrics: vec![],
        recipe: "random weights, for tests".into(),
        sha256: String::new(),
    }
}

/// The shipped classifier copied into `dir` with its manifest naming `enhancer`.
fn classifier_behind(dir: &Path, enhancer: Option<shared::wire::EnhancerRef>) -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/vigil-int8.onnx");
    let (bytes, mut manifest): (Vec<u8>, ModelManifest) = artifacts::manifest::load_verified(&shipped).unwrap();
    manifest.enhancer = enhancer;
    let model = dir.join("classifier.onnx");
    artifacts::manifest::write_model(&model, &bytes, manifest).unwrap();
    model
}

/// A 64x64 grey test card with some structure.
fn card(dir: &Path) -> PathBuf {
    let path = dir.join("card.png");
    let img = image::GrayImage::from_fn(64, 64, |x, y| {
        image::Luma([((x * 5 + y * 3) % 200 + (x / 8 % 2) * 40) as u8])
    });
    img.save(&path).unwrap();
    path
}

fn classify(model: &Path, image: &Path) -> anyhow::Result<serde_json::Value> {
    classify_with(model, image, None)
}

/// `edge classify`, with `enhancer` put in front of the model when given.
fn classify_with(model: &Path, image: &Path, enhancer: Option<&Path>) -> anyhow::Result<serde_json::Value> {
    let args = ClassifyArgs {
        model: Some(model.to_path_buf()),
        images: vec![image.to_path_buf()],
        crop: Crop::None,
        cascade: None,
        enhancer: enhancer.map(Path::to_path_buf),
    };
    let mut out = Vec::new();
    run_to(&args, &mut out)?;
    Ok(serde_json::from_slice(&out)?)
}

#[test]
fn the_edge_runs_the_named_enhancer_and_refuses_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let enhancer_path = dir.path().join("test-enhancer.onnx");
    let named = artifacts::enhancer::write(&enhancer_path, &enhancer_onnx(), enhancer_manifest()).unwrap();
    assert_eq!(named.file, "test-enhancer.onnx");
    let image = card(dir.path());

    // Behind the enhancer: the pipeline restores the crop, then applies the recipe's CLAHE.
    let model = classifier_behind(dir.path(), Some(named.clone()));
    let (_, manifest) = artifacts::manifest::load_verified(&model).unwrap();
    let faces = FacePipeline::for_model(&model, &manifest, manifest.preprocessing).unwrap();
    let frame = artifacts::image::load(&image).unwrap();
    let whole = FaceBox::whole(frame.width(), frame.height());
    let enhancer = artifacts::enhancer::Enhancer::load(&enhancer_path).unwrap();
    let cropped = manifest.preprocessing.cropped(&frame, whole).unwrap();
    let restored = enhancer.enhance(&cropped).unwrap();
    assert_ne!(restored, cropped, "the test enhancer must not be the identity");
    let expected = shared::preprocess::enhance(&restored, manifest.preprocessing.enhancement);
    assert_eq!(faces.face(&frame, whole).unwrap(), expected);
    let with = classify(&model, &image).unwrap();

    // The same classifier without the enhancer scores the face differently.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain_model = classifier_behind(plain_dir.path(), None);
    let plain = classify(&plain_model, &image).unwrap();
    assert_ne!(with["probabilities"], plain["probabilities"]);

    // Put in front of it (`--enhancer`), the enhancer prepares faces exactly as for the
    // model trained behind it; a model behind its own enhancer takes no second one.
    let in_front = classify_with(&plain_model, &image, Some(&enhancer_path)).unwrap();
    assert_eq!(in_front["probabilities"], with["probabilities"]);
    let err = format!("{:#}", classify_with(&model, &image, Some(&enhancer_path)).unwrap_err());
    assert!(err.contains("cannot go in front of a model trained behind"), "{err}");

    // A different enhancer under the recorded name, a missing one, a path: refused, named.
    let mut other = enhancer_manifest();
    other.name = "other".into();
    let mut tampered = enhancer_onnx();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let swapped_dir = tempfile::tempdir().unwrap();
    artifacts::enhancer::write(&swapped_dir.path().join("test-enhancer.onnx"), &tampered, other).unwrap();
    let swapped = classifier_behind(swapped_dir.path(), Some(named.clone()));
    let err = format!("{:#}", classify(&swapped, &image).unwrap_err());
    assert!(err.contains("sha256") && err.contains("test-enhancer.onnx"), "{err}");

    let missing_dir = tempfile::tempdir().unwrap();
    let missing = classifier_behind(missing_dir.path(), Some(named.clone()));
    let err = format!("{:#}", classify(&missing, &image).unwrap_err());
    assert!(
        err.contains("trained behind the enhancer") && err.contains("cannot be read"),
        "{err}"
    );

    let path_dir = tempfile::tempdir().unwrap();
    let by_path = classifier_behind(
        path_dir.path(),
        Some(shared::wire::EnhancerRef {
            file: enhancer_path.display().to_string(),
            sha256: named.sha256.clone(),
        }),
    );
    let err = format!("{:#}", classify(&by_path, &image).unwrap_err());
    assert!(err.contains("expected a file name beside the model"), "{err}");

    // A face of the wrong size is an error, not a panic.
    let small = GrayImage::filled(10, 10, 9);
    assert!(enhancer.enhance(&small).is_err());
}

/// `host prepare --enhancer` makes the training faces the edge will make for a model trained
/// on them: the same pixels, and a cache identity that names the enhancer.
#[test]
fn training_faces_behind_the_enhancer_are_the_edges_faces() {
    let dir = tempfile::tempdir().unwrap();
    let enhancer_path = dir.path().join("test-enhancer.onnx");
    let named = artifacts::enhancer::write(&enhancer_path, &enhancer_onnx(), enhancer_manifest()).unwrap();
    let model = classifier_behind(dir.path(), Some(named.clone()));
    let (_, manifest) = artifacts::manifest::load_verified(&model).unwrap();
    let edge = FacePipeline::for_model(&model, &manifest, manifest.preprocessing).unwrap();

    let config = host::data::PrepareConfig {
        data: DataSelection {
            preprocessing: manifest.preprocessing,
            enhancer: Some(enhancer_path.clone()),
            ..DataSelection::default()
        },
        ..host::data::PrepareConfig::default()
    };
    let learned = host::data::faces::enhancer_for(&config).unwrap();
    assert!(learned.id().contains(&named.sha256), "{}", learned.id());
    let classical = host::data::faces::enhancer_for(&host::data::PrepareConfig {
        data: DataSelection {
            enhancer: None,
            ..config.data.clone()
        },
        ..config.clone()
    })
    .unwrap();
    assert_ne!(learned.id(), classical.id());

    let frame = artifacts::image::load(&card(dir.path())).unwrap();
    let whole = FaceBox::whole(frame.width(), frame.height());
    let host_face = host::data::faces::preprocess(&frame, whole, &manifest.preprocessing, learned.as_ref()).unwrap();
    assert_eq!(host_face, edge.face(&frame, whole).unwrap());
    let plain = host::data::faces::preprocess(&frame, whole, &manifest.preprocessing, classical.as_ref()).unwrap();
    assert_ne!(host_face, plain);

    let missing = host::data::PrepareConfig {
        data: DataSelection {
            enhancer: Some(dir.path().join("absent.onnx")),
            ..config.data.clone()
        },
        ..config
    };
    let err = host::data::faces::enhancer_for(&missing)
        .err()
        .expect("a missing enhancer is refused");
    assert!(err.to_string().contains("absent.onnx"), "{err}");
}
