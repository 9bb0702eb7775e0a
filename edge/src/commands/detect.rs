//! `edge detect IMAGE...`: run the Haar face detector on still images, one JSON line each.
//!
//! For checking the detector on the board against OpenCV or a labelled set without the rest of
//! the runtime: the output is machine-readable (`{"file": …, "faces": [{"x","y","w","h"}, …]}`),
//! an unreadable image prints `{"file": …, "error": …}` and the run goes on, and the exit
//! status is non-zero if any image failed, so scripts notice.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::Serialize;
use shared::FaceBox;
use shared::haar::DetectParams;

use artifacts::shipped;

/// Options of `edge detect`.
#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Images to scan (PNG, JPEG, TIFF including palette TIFF, BMP, PNM).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Cascade: OpenCV XML (`.xml`) or vigil's postcard form (any other extension).
    /// Default: models/haarcascade_frontalface_default.xml.
    #[arg(long)]
    pub cascade: Option<PathBuf>,
    /// Ratio between consecutive window sizes (> 1).
    #[arg(long, default_value_t = 1.1)]
    pub scale_factor: f32,
    /// Keep a face only if more than this many raw hits support it (0: no grouping).
    #[arg(long, default_value_t = 5)]
    pub min_neighbors: u32,
    /// Smallest face side in pixels.
    #[arg(long, default_value_t = 30)]
    pub min_size: u32,
    /// Largest face side in pixels (default: the image size).
    #[arg(long)]
    pub max_size: Option<u32>,
}

#[derive(Serialize)]
struct Face {
    x: i32,
    y: i32,
    w: u32,
    h: u32,
}

impl From<FaceBox> for Face {
    fn from(b: FaceBox) -> Self {
        Face {
            x: b.x,
            y: b.y,
            w: b.w,
            h: b.h,
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Line {
    Faces { file: String, faces: Vec<Face> },
    Error { file: String, error: String },
}

/// Runs the command, writing JSON lines to `out`; fails at the end if any image failed.
pub fn run_to(args: &DetectArgs, out: &mut dyn Write) -> Result<()> {
    let params = DetectParams {
        scale_factor: args.scale_factor,
        min_neighbors: args.min_neighbors,
        min_size: args.min_size,
        max_size: args.max_size,
    };
    params.validate()?;
    let path = match &args.cascade {
        Some(p) => p.clone(),
        None => shipped::find(shipped::CASCADE, "--cascade")?,
    };
    let cascade = artifacts::cascade::load(&path)?.cascade;
    let mut failed = 0;
    for image in &args.images {
        let file = image.display().to_string();
        let line = match artifacts::image::load(image) {
            Ok(frame) => {
                let faces = cascade.try_detect(&frame, &params)?;
                Line::Faces {
                    file,
                    faces: faces.into_iter().map(Face::from).collect(),
                }
            }
            Err(e) => {
                failed += 1;
                Line::Error {
                    file,
                    error: e.to_string(),
                }
            }
        };
        serde_json::to_writer(&mut *out, &line)?;
        writeln!(out)?;
        out.flush()?;
    }
    if failed > 0 {
        bail!("{failed} of {} images could not be read", args.images.len());
    }
    Ok(())
}

/// Runs the command on standard output.
pub fn run(args: &DetectArgs) -> Result<()> {
    run_to(args, &mut std::io::stdout().lock())
}

#[cfg(test)]
mod tests {

    use super::*;

    fn args(images: Vec<PathBuf>, cascade: Option<PathBuf>) -> DetectArgs {
        DetectArgs {
            images,
            cascade,
            scale_factor: 1.1,
            min_neighbors: 5,
            min_size: 30,
            max_size: None,
        }
    }

    #[test]
    fn prints_one_line_per_image_and_reports_failures_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let blank = dir.path().join("blank.png");
        image::GrayImage::from_pixel(64, 48, image::Luma([128]))
            .save(&blank)
            .unwrap();
        let broken = dir.path().join("broken.png");
        std::fs::write(&broken, b"not a png").unwrap();
        let mut out = Vec::new();
        let err = run_to(
            &args(vec![blank.clone(), broken.clone(), blank.clone()], None),
            &mut out,
        )
        .unwrap_err();
        assert!(err.to_string().contains("1 of 3"), "{err}");
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["file"], blank.display().to_string());
        assert_eq!(lines[0]["faces"], serde_json::json!([]));
        assert!(lines[1]["error"].as_str().unwrap().contains("broken.png"));
        assert!(lines[1].get("faces").is_none());
        assert_eq!(lines[2]["faces"], serde_json::json!([]));
    }

    #[test]
    fn missing_cascade_and_bad_parameters_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-cascade.xml");
        let err = run_to(&args(vec![missing.clone()], Some(missing)), &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("no-such-cascade.xml"), "{err:#}");
        let mut bad = args(vec![dir.path().join("x.png")], None);
        bad.scale_factor = 1.0;
        assert!(
            run_to(&bad, &mut Vec::new())
                .unwrap_err()
                .to_string()
                .contains("scale factor")
        );
    }
}
