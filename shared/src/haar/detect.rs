//! The multi-scale scan: OpenCV's `detectMultiScaleNoGrouping` followed by grouping.
//!
//! Per detection the cascade is "compiled" once against the integral-image row stride: every
//! feature rectangle becomes four table offsets relative to the window's top-left entry, so a
//! feature costs a dozen loads and no multiplications by the stride. All scales share one
//! stride (the widest level's), so one compilation serves the whole pyramid. The arithmetic
//! follows OpenCV's types (int rectangle sums, `f32` feature values and thresholds, `f64` stage
//! sums and variance) because a face near a threshold must be decided the same way.

use alloc::vec;
use alloc::vec::Vec;

use super::group::group_rectangles;
use super::integral::{corner_sum, integrate_into};
use super::resize::resize_into;
use super::{Cascade, DetectParams, GROUP_EPS, HaarError, MAX_SCALES};
use crate::image::{FaceBox, GrayImage};

/// OpenCV lowers every stage threshold by this much when it loads a cascade.
const THRESHOLD_EPS: f32 = 1e-5;

/// A feature as table offsets (top-left, top-right, bottom-left, bottom-right per rectangle).
/// Missing rectangles have weight 0 and offsets 0, as in OpenCV.
#[derive(Debug, Clone, Copy, Default)]
struct CFeature {
    ofs: [[u32; 4]; 3],
    weight: [f32; 3],
}

impl CFeature {
    fn new(feature: &super::HaarFeature, stride: usize) -> Self {
        let mut f = CFeature::default();
        for (k, r) in feature.rects.iter().enumerate() {
            let (x, y, w, h) = (r.x as usize, r.y as usize, r.width as usize, r.height as usize);
            f.ofs[k] = [
                y * stride + x,
                y * stride + x + w,
                (y + h) * stride + x,
                (y + h) * stride + x + w,
            ]
            .map(|o| o as u32);
            f.weight[k] = r.weight;
        }
        f
    }

    /// The raw (unnormalised) feature value of the window whose top-left entry is `base`.
    #[inline(always)]
    fn eval(&self, sum: &[u32], base: usize) -> f32 {
        let rect = |k: usize| {
            let [a, b, c, d] = self.ofs[k];
            corner_sum(
                sum,
                base + a as usize,
                base + b as usize,
                base + c as usize,
                base + d as usize,
            ) as i32 as f32
        };
        let mut v = self.weight[0] * rect(0) + self.weight[1] * rect(1);
        if self.weight[2] != 0.0 {
            v += self.weight[2] * rect(2);
        }
        v
    }
}

#[derive(Debug, Clone, Copy)]
struct CStump {
    feature: CFeature,
    threshold: f32,
    left: f64,
    right: f64,
}

#[derive(Debug, Clone, Copy)]
struct CNode {
    feature: CFeature,
    threshold: f32,
    left: i32,
    right: i32,
}

#[derive(Debug, Clone, Copy)]
struct CWeak {
    first_node: usize,
    first_leaf: usize,
}

#[derive(Debug, Clone, Copy)]
struct CStage {
    threshold: f64,
    first: usize,
    end: usize,
}

enum Weak {
    /// Every classifier is one node: the common, faster layout.
    Stumps(Vec<CStump>),
    /// General trees (e.g. `haarcascade_frontalface_alt2`).
    Trees {
        weak: Vec<CWeak>,
        nodes: Vec<CNode>,
        leaves: Vec<f64>,
    },
}

struct Compiled {
    norm: [usize; 4],
    norm_area: f64,
    stages: Vec<CStage>,
    weak: Weak,
}

impl Compiled {
    fn new(cascade: &Cascade, stride: usize) -> Self {
        let (ww, wh) = cascade.window_size();
        // OpenCV normalises by the window shrunk by one pixel on each side.
        let (nw, nh) = (ww as usize - 2, wh as usize - 2);
        let norm = [
            stride + 1,
            stride + 1 + nw,
            (nh + 1) * stride + 1,
            (nh + 1) * stride + 1 + nw,
        ];
        let features: Vec<CFeature> = cascade.features().iter().map(|f| CFeature::new(f, stride)).collect();
        let mut stages = Vec::with_capacity(cascade.stages().len());
        let stumps = cascade.is_stump_based();
        let (mut cstumps, mut cweak, mut cnodes, mut cleaves) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for stage in cascade.stages() {
            let first = if stumps { cstumps.len() } else { cweak.len() };
            for w in &stage.weak {
                if stumps {
                    let n = &w.nodes[0];
                    // Validation guarantees the children of a lone node are leaves.
                    let leaf = |c: i32| w.leaves[c.unsigned_abs() as usize] as f64;
                    cstumps.push(CStump {
                        feature: features[n.feature as usize],
                        threshold: n.threshold,
                        left: leaf(n.left),
                        right: leaf(n.right),
                    });
                } else {
                    cweak.push(CWeak {
                        first_node: cnodes.len(),
                        first_leaf: cleaves.len(),
                    });
                    cnodes.extend(w.nodes.iter().map(|n| CNode {
                        feature: features[n.feature as usize],
                        threshold: n.threshold,
                        left: n.left,
                        right: n.right,
                    }));
                    cleaves.extend(w.leaves.iter().map(|&l| l as f64));
                }
            }
            let end = if stumps { cstumps.len() } else { cweak.len() };
            stages.push(CStage {
                threshold: (stage.threshold - THRESHOLD_EPS) as f64,
                first,
                end,
            });
        }
        let weak = if stumps {
            Weak::Stumps(cstumps)
        } else {
            Weak::Trees {
                weak: cweak,
                nodes: cnodes,
                leaves: cleaves,
            }
        };
        Compiled {
            norm,
            norm_area: (nw * nh) as f64,
            stages,
            weak,
        }
    }

    /// OpenCV's `runAt`: -1 for a (near-)flat window, `-k` when stage `k` rejects (so 0 for
    /// the first stage), 1 when every stage passes.
    #[inline]
    fn run_at(&self, sum: &[u32], sqsum: &[u32], base: usize) -> i32 {
        let [a, b, c, d] = self.norm;
        let s = corner_sum(sum, base + a, base + b, base + c, base + d) as i32;
        let sq = corner_sum(sqsum, base + a, base + b, base + c, base + d);
        let nf = self.norm_area * sq as f64 - s as f64 * s as f64;
        // Sums of integers: never NaN.
        if nf <= 0.0 {
            return -1;
        }
        let inv_std = (1.0 / libm::sqrt(nf)) as f32;
        if self.norm_area * (inv_std as f64) >= 0.1 {
            return -1;
        }
        match &self.weak {
            Weak::Stumps(stumps) => {
                for (si, stage) in self.stages.iter().enumerate() {
                    let mut acc = 0.0f64;
                    for st in &stumps[stage.first..stage.end] {
                        let v = st.feature.eval(sum, base) * inv_std;
                        acc += if v < st.threshold { st.left } else { st.right };
                    }
                    if acc < stage.threshold {
                        return -(si as i32);
                    }
                }
            }
            Weak::Trees { weak, nodes, leaves } => {
                for (si, stage) in self.stages.iter().enumerate() {
                    let mut acc = 0.0f64;
                    for w in &weak[stage.first..stage.end] {
                        let mut idx = 0i32;
                        loop {
                            let n = &nodes[w.first_node + idx as usize];
                            let v = n.feature.eval(sum, base) * inv_std;
                            idx = if v < n.threshold { n.left } else { n.right };
                            if idx <= 0 {
                                break;
                            }
                        }
                        acc += leaves[w.first_leaf + idx.unsigned_abs() as usize];
                    }
                    if acc < stage.threshold {
                        return -(si as i32);
                    }
                }
            }
        }
        1
    }
}

/// The `f64` a person meant by an `f32` parameter: 1.1f32 is 1.100000024, but OpenCV callers
/// pass the double 1.1, and the scale pyramid multiplies it up to 40 times.
fn as_decimal_f64(v: f32) -> f64 {
    alloc::format!("{v}").parse().unwrap_or(v as f64)
}

/// One pyramid level: the scale and the size the image is shrunk to.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Level {
    scale: f32,
    width: usize,
    height: usize,
    step: usize,
}

fn levels(cascade: &Cascade, img_w: u32, img_h: u32, params: &DetectParams) -> Result<Vec<Level>, HaarError> {
    params.validate()?;
    let (ww, wh) = cascade.window_size();
    let (img_w, img_h) = (img_w as i64, img_h as i64);
    let (max_w, max_h) = match params.max_size {
        Some(m) if m > 0 => (m as i64, m as i64),
        _ => (img_w, img_h),
    };
    let min = params.min_size as i64;
    let step = as_decimal_f64(params.scale_factor);
    let mut out = Vec::new();
    let mut factor = 1.0f64;
    for _ in 0..MAX_SCALES {
        let (w, h) = (
            libm::rint(ww as f64 * factor) as i64,
            libm::rint(wh as f64 * factor) as i64,
        );
        if w > max_w || h > max_h || w > img_w || h > img_h {
            return Ok(out);
        }
        if w >= min && h >= min {
            let scale = factor as f32;
            out.push(Level {
                scale,
                width: libm::rintf(img_w as f32 / scale) as usize,
                height: libm::rintf(img_h as f32 / scale) as usize,
                step: if scale >= 2.0 { 1 } else { 2 },
            });
        }
        factor *= step;
    }
    Err(HaarError::Params(alloc::format!(
        "scale factor {} needs more than {MAX_SCALES} scales for a {img_w}x{img_h} image",
        params.scale_factor
    )))
}

/// Every window that passes all stages, in image coordinates, before grouping.
pub(crate) fn candidates(
    cascade: &Cascade,
    image: &GrayImage,
    params: &DetectParams,
) -> Result<Vec<FaceBox>, HaarError> {
    let levels = levels(cascade, image.width(), image.height(), params)?;
    let Some(first) = levels.first() else {
        return Ok(Vec::new());
    };
    let (img_w, img_h) = (image.width() as usize, image.height() as usize);
    // Levels shrink monotonically, so the first is the largest: size every buffer for it.
    let stride = first.width + 1;
    let mut resized = vec![0u8; first.width * first.height];
    let mut sum = vec![0u32; stride * (first.height + 1)];
    let mut sqsum = vec![0u32; stride * (first.height + 1)];
    let compiled = Compiled::new(cascade, stride);
    let (ww, wh) = cascade.window_size();
    let mut hits = Vec::new();
    for level in &levels {
        let (w, h) = (level.width, level.height);
        let (scan_w, scan_h) = ((w + 1).saturating_sub(ww as usize), (h + 1).saturating_sub(wh as usize));
        if scan_w == 0 || scan_h == 0 {
            continue;
        }
        resize_into(image.pixels(), img_w, img_h, &mut resized, w, h);
        integrate_into(&resized[..w * h], w, h, stride, &mut sum, &mut sqsum);
        let box_w = libm::rintf(ww as f32 * level.scale) as u32;
        let box_h = libm::rintf(wh as f32 * level.scale) as u32;
        for y in (0..scan_h).step_by(level.step) {
            let row = y * stride;
            let mut x = 0;
            while x < scan_w {
                let result = compiled.run_at(&sum, &sqsum, row + x);
                if result > 0 {
                    let bx = libm::rintf(x as f32 * level.scale) as i32;
                    let by = libm::rintf(y as f32 * level.scale) as i32;
                    hits.push(FaceBox::new(bx, by, box_w, box_h));
                }
                // A window that fails the first stage lets OpenCV skip the next position.
                if result == 0 {
                    x += level.step;
                }
                x += level.step;
            }
        }
    }
    Ok(hits)
}

impl Cascade {
    /// Faces in `image`, as OpenCV's `detectMultiScale` finds them with the same cascade and
    /// parameters: grouped, clipped to the image, in no particular order.
    ///
    /// Invalid parameters (see [`DetectParams::validate`]) give no faces; use
    /// [`Cascade::try_detect`] to get the reason.
    pub fn detect(&self, image: &GrayImage, params: &DetectParams) -> Vec<FaceBox> {
        self.try_detect(image, params).unwrap_or_default()
    }

    /// [`Cascade::detect`], reporting invalid parameters as an error.
    pub fn try_detect(&self, image: &GrayImage, params: &DetectParams) -> Result<Vec<FaceBox>, HaarError> {
        let hits = candidates(self, image, params)?;
        let grouped = group_rectangles(&hits, params.min_neighbors, GROUP_EPS);
        let (w, h) = (image.width() as i64, image.height() as i64);
        Ok(grouped
            .into_iter()
            .filter_map(|b| {
                let (x0, y0) = ((b.x as i64).max(0), (b.y as i64).max(0));
                let (x1, y1) = ((b.x as i64 + b.w as i64).min(w), (b.y as i64 + b.h as i64).min(h));
                (x1 > x0 && y1 > y0).then(|| FaceBox::new(x0 as i32, y0 as i32, (x1 - x0) as u32, (y1 - y0) as u32))
            })
            .collect())
    }

    /// The raw hits before grouping (what OpenCV groups), for diagnostics and tuning.
    pub fn detect_candidates(&self, image: &GrayImage, params: &DetectParams) -> Result<Vec<FaceBox>, HaarError> {
        candidates(self, image, params)
    }
}

#[cfg(test)]
mod tests;
