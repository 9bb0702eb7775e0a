//! Measuring an enhancer against the alternatives (the degraded face as it is, CLAHE) on
//! faces degraded once, with the draw of [`EVAL_EPOCH`], so that every epoch, every method
//! and every later measurement (`host robustness`) sees the same faces.

use std::path::Path;

use burn::tensor::Device;
use shared::GrayImage;
use shared::preprocess::{Enhancement, enhance};

use super::SIDE;
use super::degrade::{self, Degradation};
use super::network::FfaNet;
use super::quality::{psnr_capped, ssim};
use super::train::EnhancerError;

/// The "epoch" whose degradation draw validation and test faces get.
pub const EVAL_EPOCH: u64 = u64::MAX;

/// Faces degraded once for measuring: the clean and degraded pixels and the kinds applied.
pub struct EvalSet {
    /// Clean faces, `SIDE x SIDE` each.
    pub clean: Vec<Vec<u8>>,
    /// Their degraded copies.
    pub degraded: Vec<Vec<u8>>,
    /// The kinds applied to each.
    pub kinds: Vec<Vec<Degradation>>,
}

impl EvalSet {
    /// Degrades `faces` with the evaluation draw of `seed`.
    pub fn new(faces: &[Vec<u8>], seed: u64) -> Self {
        let (mut degraded, mut kinds) = (Vec::new(), Vec::new());
        for (i, face) in faces.iter().enumerate() {
            let (d, k) = degrade::degrade(face, SIDE, SIDE, &mut degrade::sample_rng(seed, EVAL_EPOCH, i as u64));
            degraded.push(d);
            kinds.push(k);
        }
        EvalSet {
            clean: faces.to_vec(),
            degraded,
            kinds,
        }
    }

    /// The first `n` faces (all with 0).
    pub fn truncated(&self, n: usize) -> EvalSet {
        let n = if n == 0 {
            self.clean.len()
        } else {
            n.min(self.clean.len())
        };
        EvalSet {
            clean: self.clean[..n].to_vec(),
            degraded: self.degraded[..n].to_vec(),
            kinds: self.kinds[..n].to_vec(),
        }
    }
}

/// Restores faces in batches of 256 (inference, no autodiff).
pub fn restore_all(net: &FfaNet, faces: &[Vec<u8>], device: &Device) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(faces.len());
    for chunk in faces.chunks(256) {
        let flat: Vec<u8> = chunk.concat();
        let restored = net.restore(&flat, chunk.len(), SIDE, SIDE, device);
        out.extend(restored.chunks_exact(SIDE * SIDE).map(<[u8]>::to_vec));
    }
    out
}

/// CLAHE with the shipped settings, as the classifier's preprocessing applies it.
pub fn clahe(face: &[u8]) -> Vec<u8> {
    let img = GrayImage::from_raw(SIDE as u32, SIDE as u32, face.to_vec()).expect("a 48x48 face");
    enhance(&img, Enhancement::default()).pixels().to_vec()
}

/// PSNR and SSIM of each output against its target.
fn face_quality(outputs: &[Vec<u8>], targets: &[Vec<u8>]) -> Vec<Quality> {
    outputs
        .iter()
        .zip(targets)
        .map(|(o, t)| Quality {
            psnr: psnr_capped(o, t),
            ssim: ssim(o, t, SIDE, SIDE),
        })
        .collect()
}

/// The mean of the faces `idx` of `scores`.
fn mean_over(scores: &[Quality], idx: impl ExactSizeIterator<Item = usize>) -> Quality {
    let n = idx.len().max(1) as f64;
    let (p, s) = idx.fold((0.0, 0.0), |(p, s), i| (p + scores[i].psnr, s + scores[i].ssim));
    Quality {
        psnr: p / n,
        ssim: s / n,
    }
}

/// Mean PSNR and SSIM of `outputs` against `targets`.
pub fn mean_quality(outputs: &[Vec<u8>], targets: &[Vec<u8>]) -> Quality {
    mean_over(&face_quality(outputs, targets), 0..outputs.len())
}

/// PSNR and SSIM of one method on a set of faces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Mean PSNR, dB (identical faces count 100).
    pub psnr: f64,
    /// Mean SSIM.
    pub ssim: f64,
}

/// The comparison of a trained enhancer with the alternatives on one set of degraded faces.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Which faces: `all` or a degradation's name.
    pub name: String,
    /// Faces measured.
    pub faces: usize,
    /// The degraded face as it is, against the clean face.
    pub none: Quality,
    /// CLAHE of the degraded face against the clean face.
    pub clahe: Quality,
    /// CLAHE of the degraded face against CLAHE of the clean face (CLAHE's own domain).
    pub clahe_vs_clahe: Quality,
    /// The enhancer's output against the clean face.
    pub ffa: Quality,
}

/// Measures every method on `set`, overall and for the faces each kind touched.
pub fn compare(net: &FfaNet, set: &EvalSet, device: &Device) -> Vec<Comparison> {
    let restored = restore_all(net, &set.degraded, device);
    let clahe_degraded: Vec<Vec<u8>> = set.degraded.iter().map(|f| clahe(f)).collect();
    let clahe_clean: Vec<Vec<u8>> = set.clean.iter().map(|f| clahe(f)).collect();
    // Every face is scored once per method; the rows average subsets of those scores.
    let none = face_quality(&set.degraded, &set.clean);
    let clahe_scores = face_quality(&clahe_degraded, &set.clean);
    let clahe_vs_clahe = face_quality(&clahe_degraded, &clahe_clean);
    let ffa = face_quality(&restored, &set.clean);
    let measure = |name: &str, keep: &dyn Fn(usize) -> bool| {
        let idx: Vec<usize> = (0..set.clean.len()).filter(|&i| keep(i)).collect();
        let q = |scores: &[Quality]| mean_over(scores, idx.iter().copied());
        Comparison {
            name: name.to_string(),
            faces: idx.len(),
            none: q(&none),
            clahe: q(&clahe_scores),
            clahe_vs_clahe: q(&clahe_vs_clahe),
            ffa: q(&ffa),
        }
    };
    let mut rows = vec![measure("all", &|_| true)];
    for kind in Degradation::ALL {
        rows.push(measure(kind.name(), &|i| set.kinds[i].contains(&kind)));
    }
    rows
}

/// The comparison as a Markdown table.
pub fn comparison_table(rows: &[Comparison]) -> String {
    let mut s = String::from(
        "| faces | n | none PSNR / SSIM | CLAHE PSNR / SSIM | CLAHE vs CLAHE(clean) PSNR / SSIM | enhancer PSNR / SSIM | enhancer - best other, dB |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let f = |q: Quality| format!("{:.2} / {:.3}", q.psnr, q.ssim);
        let best_other = r.none.psnr.max(r.clahe.psnr).max(r.clahe_vs_clahe.psnr);
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {:+.2} |\n",
            r.name,
            r.faces,
            f(r.none),
            f(r.clahe),
            f(r.clahe_vs_clahe),
            f(r.ffa),
            r.ffa.psnr - best_other
        );
    }
    s
}

/// A PNG grid, one face per row: degraded, CLAHE, enhancer, clean, each scaled `scale` times.
pub fn sample_grid(
    path: &Path,
    net: &FfaNet,
    set: &EvalSet,
    rows: usize,
    device: &Device,
) -> Result<(), EnhancerError> {
    const SCALE: usize = 2;
    const GAP: usize = 4;
    let rows = rows.min(set.clean.len());
    let restored = restore_all(net, &set.degraded[..rows], device);
    let cell = SIDE * SCALE;
    let (width, height) = (4 * cell + 5 * GAP, rows * cell + (rows + 1) * GAP);
    let mut canvas = image::GrayImage::from_pixel(width as u32, height as u32, image::Luma([255]));
    for (r, out) in restored.iter().enumerate() {
        let columns = [
            set.degraded[r].clone(),
            clahe(&set.degraded[r]),
            out.clone(),
            set.clean[r].clone(),
        ];
        for (c, face) in columns.iter().enumerate() {
            let (x0, y0) = (GAP + c * (cell + GAP), GAP + r * (cell + GAP));
            for y in 0..cell {
                for x in 0..cell {
                    let v = face[(y / SCALE) * SIDE + x / SCALE];
                    canvas.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Luma([v]));
                }
            }
        }
    }
    canvas.save(path).map_err(|e| EnhancerError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })
}
