//! `edge classify [--model M] IMAGE...`: the face, label and class probabilities of still
//! images, one JSON line each — the runtime's inference path without the camera and policy.
//!
//! Each image goes through exactly what the alert loop does: decode to grey, find the
//! largest face with the Haar cascade (or take the whole image with `--crop none`, for
//! already-cropped datasets), preprocess with the recipe in the model's manifest, classify.
//! An image that fails to decode or has no face says so on its line; the run goes on and
//! the exit status is non-zero if any image failed to decode.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use shared::haar::{DetectParams, largest};
use shared::{Emotion, FaceBox};

use crate::inference::Classifier;
use crate::inference::face::FacePipeline;
use crate::inference::tract::TractClassifier;

/// How the face region is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Crop {
    /// Largest face found by the Haar cascade.
    Face,
    /// The whole image is the face (datasets that are already cropped, e.g. CK+, FER2013).
    None,
}

/// Options of `edge classify`.
#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    /// ONNX model (fp32 or int8) with its `.manifest.json` beside it [default: the shipped
    /// models/vigil-int8.onnx, as `edge run`].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Images to classify.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Face region: `face` (Haar detection) or `none` (whole image).
    #[arg(long, value_enum, default_value_t = Crop::Face)]
    pub crop: Crop,
    /// Haar cascade (OpenCV XML or postcard). Default: models/haarcascade_frontalface_default.xml.
    #[arg(long)]
    pub cascade: Option<PathBuf>,
    /// A learned face enhancer (ONNX with its manifest) put in front of a model trained
    /// without one.
    #[arg(long)]
    pub enhancer: Option<PathBuf>,
}

#[derive(Serialize)]
struct Line {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    face: Option<FaceBox>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<Emotion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilities: Option<BTreeMap<&'static str, f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Line {
    fn error(file: String, error: String) -> Self {
        Line {
            file,
            face: None,
            label: None,
            probabilities: None,
            error: Some(error),
        }
    }
}

/// Runs the command, writing JSON lines to `out`.
pub fn run_to(args: &ClassifyArgs, out: &mut impl Write) -> Result<()> {
    let model = match &args.model {
        Some(model) => model.clone(),
        None => artifacts::shipped::find(artifacts::shipped::MODEL, "--model FILE").context("no emotion model")?,
    };
    let mut classifier = TractClassifier::load(&model)?;
    let manifest = classifier.manifest().clone();
    let mut faces = FacePipeline::for_model(&model, &manifest, manifest.preprocessing)
        .with_context(|| format!("loading the enhancer of model {}", model.display()))?;
    if let Some(path) = &args.enhancer {
        let enhancer = artifacts::enhancer::Enhancer::load(path)
            .with_context(|| format!("loading the enhancer {}", path.display()))?;
        faces = faces.in_front(enhancer)?;
    }
    let cascade = match args.crop {
        Crop::None => None,
        Crop::Face => {
            let path = match &args.cascade {
                Some(p) => p.clone(),
                None => artifacts::shipped::find(artifacts::shipped::CASCADE, "--cascade")?,
            };
            Some(artifacts::cascade::load(&path)?.cascade)
        }
    };
    let params = DetectParams::default();
    let mut failed = 0;
    for path in &args.images {
        let file = path.display().to_string();
        let frame = match artifacts::image::load(path) {
            Ok(f) => f,
            Err(e) => {
                failed += 1;
                tracing::warn!("{e}");
                serde_json::to_writer(&mut *out, &Line::error(file, e.to_string()))?;
                writeln!(out)?;
                continue;
            }
        };
        let face = match &cascade {
            None => Some(FaceBox::whole(frame.width(), frame.height())),
            Some(c) => largest(&c.detect(&frame, &params)),
        };
        let line = match face {
            None => Line::error(file, "no face found".into()),
            Some(face) => {
                let input = faces
                    .input(&frame, face)
                    .with_context(|| format!("preprocessing {file}"))?;
                let probs = classifier
                    .classify(&input)
                    .with_context(|| format!("classifying {file}"))?;
                let label = Emotion::ALL[(0..probs.len()).fold(0, |b, i| if probs[i] > probs[b] { i } else { b })];
                Line {
                    file,
                    face: Some(face),
                    label: Some(label),
                    probabilities: Some(Emotion::ALL.iter().map(|e| (e.name(), probs[e.index()])).collect()),
                    error: None,
                }
            }
        };
        serde_json::to_writer(&mut *out, &line)?;
        writeln!(out)?;
    }
    if failed > 0 {
        bail!("{failed} of {} images could not be read", args.images.len());
    }
    Ok(())
}

/// Runs the command on stdout.
pub fn run(args: &ClassifyArgs) -> Result<()> {
    run_to(args, &mut std::io::stdout().lock())
}
