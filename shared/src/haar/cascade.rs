//! The cascade as plain, serialisable data, checked once on load so detection can trust it.
//!
//! The layout mirrors OpenCV's new cascade format: a list of Haar features (up to three
//! weighted rectangles in window coordinates) and a list of stages, each a set of boosted
//! decision trees (a stump is a one-node tree). Tree children follow OpenCV's encoding: a
//! positive child is the index of another node of the same tree, zero or negative is `-leaf`.
//! Values keep the precision OpenCV keeps (`f32`); the stage threshold is stored as written in
//! the XML and OpenCV's `1e-5` tolerance is applied at detection time.

use alloc::format;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::HaarError;

/// Magic bytes at the start of a postcard cascade blob.
const MAGIC: [u8; 4] = *b"VJHC";
/// Format version of the postcard blob; bump when [`Cascade`]'s serialised shape changes.
const VERSION: u16 = 1;

/// One weighted rectangle of a Haar feature, in window pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightedRect {
    /// Left edge.
    pub x: u16,
    /// Top edge.
    pub y: u16,
    /// Width.
    pub width: u16,
    /// Height.
    pub height: u16,
    /// Weight of the rectangle's pixel sum.
    pub weight: f32,
}

/// A Haar feature: the weighted sum of one to three rectangle sums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HaarFeature {
    /// The rectangles (1..=3).
    pub rects: Vec<WeightedRect>,
}

/// A decision node: go `left` when the normalised feature value is below `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Index into [`Cascade::features`].
    pub feature: u32,
    /// Split threshold on the variance-normalised feature value.
    pub threshold: f32,
    /// Child when below: `> 0` a node index of the same tree, `<= 0` leaf `-left`.
    pub left: i32,
    /// Child otherwise, encoded as `left`.
    pub right: i32,
}

/// A boosted weak classifier: a small decision tree (one node for a stump).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeakClassifier {
    /// Nodes; the root is node 0.
    pub nodes: Vec<Node>,
    /// Leaf values added to the stage sum.
    pub leaves: Vec<f32>,
}

/// A cascade stage: the window passes if the sum of its classifiers' leaves reaches
/// `threshold` (minus OpenCV's 1e-5 tolerance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Stage threshold as written in the cascade.
    pub threshold: f32,
    /// The boosted classifiers.
    pub weak: Vec<WeakClassifier>,
}

/// A validated Haar cascade. Build it from OpenCV XML ([`Cascade::from_opencv_xml`], `std`
/// feature), from a postcard blob ([`Cascade::from_postcard`]) or from parts ([`Cascade::new`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cascade {
    window_width: u16,
    window_height: u16,
    stages: Vec<Stage>,
    features: Vec<HaarFeature>,
}

impl Cascade {
    /// A cascade from its parts, after checking that every index and rectangle is valid.
    pub fn new(
        window_width: u16,
        window_height: u16,
        stages: Vec<Stage>,
        features: Vec<HaarFeature>,
    ) -> Result<Self, HaarError> {
        let cascade = Cascade {
            window_width,
            window_height,
            stages,
            features,
        };
        cascade.validate()?;
        Ok(cascade)
    }

    /// Detection window size (width, height) the cascade was trained on.
    pub fn window_size(&self) -> (u32, u32) {
        (self.window_width as u32, self.window_height as u32)
    }

    /// The stages, first to last.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The features the nodes refer to.
    pub fn features(&self) -> &[HaarFeature] {
        &self.features
    }

    /// Whether every weak classifier is a single-node stump (OpenCV's fast path).
    pub fn is_stump_based(&self) -> bool {
        self.stages.iter().flat_map(|s| &s.weak).all(|w| w.nodes.len() == 1)
    }

    /// Serialises the cascade to a compact postcard blob (magic, version, cascade).
    pub fn to_postcard(&self) -> Result<Vec<u8>, HaarError> {
        postcard::to_allocvec(&(MAGIC, VERSION, self)).map_err(HaarError::Postcard)
    }

    /// Loads and validates a blob written by [`Cascade::to_postcard`]; needs no XML parser.
    pub fn from_postcard(bytes: &[u8]) -> Result<Self, HaarError> {
        let (magic, rest): ([u8; 4], &[u8]) = postcard::take_from_bytes(bytes).map_err(|_| HaarError::BadMagic)?;
        if magic != MAGIC {
            return Err(HaarError::BadMagic);
        }
        let (version, rest): (u16, &[u8]) = postcard::take_from_bytes(rest).map_err(HaarError::Postcard)?;
        if version != VERSION {
            return Err(HaarError::Version {
                found: version,
                expected: VERSION,
            });
        }
        let (cascade, rest): (Cascade, &[u8]) = postcard::take_from_bytes(rest).map_err(HaarError::Postcard)?;
        if !rest.is_empty() {
            return Err(HaarError::TrailingBytes(rest.len()));
        }
        cascade.validate()?;
        Ok(cascade)
    }

    /// Everything detection relies on: non-empty stages and trees, in-range feature, node and
    /// leaf indices, children that only point forward (so no tree can loop), rectangles inside
    /// the window, finite numbers.
    pub(crate) fn validate(&self) -> Result<(), HaarError> {
        let (ww, wh) = (self.window_width as u32, self.window_height as u32);
        if ww < 3 || wh < 3 {
            return Err(HaarError::Invalid(format!("window {ww}x{wh} is smaller than 3x3")));
        }
        if self.stages.is_empty() {
            return Err(HaarError::Invalid("no stages".into()));
        }
        for (fi, f) in self.features.iter().enumerate() {
            if f.rects.is_empty() || f.rects.len() > 3 {
                return Err(HaarError::Invalid(format!(
                    "feature {fi} has {} rectangles, expected 1 to 3",
                    f.rects.len()
                )));
            }
            for r in &f.rects {
                let inside = r.x as u32 + r.width as u32 <= ww && r.y as u32 + r.height as u32 <= wh;
                if !inside || !r.weight.is_finite() {
                    return Err(HaarError::Invalid(format!(
                        "feature {fi}: rectangle {r:?} lies outside the {ww}x{wh} window or has a non-finite weight"
                    )));
                }
            }
        }
        for (si, stage) in self.stages.iter().enumerate() {
            if !stage.threshold.is_finite() {
                return Err(HaarError::Invalid(format!("stage {si}: non-finite threshold")));
            }
            if stage.weak.is_empty() {
                return Err(HaarError::Invalid(format!("stage {si} has no classifiers")));
            }
            for (wi, weak) in stage.weak.iter().enumerate() {
                let at = || format!("stage {si}, classifier {wi}");
                if weak.nodes.is_empty() {
                    return Err(HaarError::Invalid(format!("{}: no nodes", at())));
                }
                if weak.leaves.iter().any(|l| !l.is_finite()) {
                    return Err(HaarError::Invalid(format!("{}: non-finite leaf value", at())));
                }
                for (ni, node) in weak.nodes.iter().enumerate() {
                    if node.feature as usize >= self.features.len() {
                        return Err(HaarError::Invalid(format!(
                            "{}: node {ni} uses feature {} of {}",
                            at(),
                            node.feature,
                            self.features.len()
                        )));
                    }
                    if !node.threshold.is_finite() {
                        return Err(HaarError::Invalid(format!(
                            "{}: node {ni} has a non-finite threshold",
                            at()
                        )));
                    }
                    for child in [node.left, node.right] {
                        let ok = if child > 0 {
                            (child as usize) > ni && (child as usize) < weak.nodes.len()
                        } else {
                            (child.unsigned_abs() as usize) < weak.leaves.len()
                        };
                        if !ok {
                            return Err(HaarError::Invalid(format!(
                                "{}: node {ni} has child {child} ({} nodes, {} leaves; children must point forward)",
                                at(),
                                weak.nodes.len(),
                                weak.leaves.len()
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;

    /// A one-stage, one-stump cascade on a 4x4 window: left half minus right half.
    pub(crate) fn tiny() -> Cascade {
        let feature = HaarFeature {
            rects: vec![
                WeightedRect {
                    x: 0,
                    y: 0,
                    width: 2,
                    height: 4,
                    weight: 1.0,
                },
                WeightedRect {
                    x: 2,
                    y: 0,
                    width: 2,
                    height: 4,
                    weight: -1.0,
                },
            ],
        };
        let stump = WeakClassifier {
            nodes: vec![Node {
                feature: 0,
                threshold: 0.1,
                left: 0,
                right: -1,
            }],
            leaves: vec![-1.0, 1.0],
        };
        Cascade::new(
            4,
            4,
            vec![Stage {
                threshold: 0.5,
                weak: vec![stump],
            }],
            vec![feature],
        )
        .unwrap()
    }

    #[test]
    fn postcard_round_trip_of_a_small_cascade() {
        let c = tiny();
        let bytes = c.to_postcard().unwrap();
        assert_eq!(&bytes[..4], b"VJHC");
        assert_eq!(Cascade::from_postcard(&bytes).unwrap(), c);
    }

    #[test]
    fn corrupt_blobs_are_errors_not_panics() {
        let bytes = tiny().to_postcard().unwrap();
        assert_eq!(Cascade::from_postcard(b"nope"), Err(HaarError::BadMagic));
        assert_eq!(Cascade::from_postcard(&[]), Err(HaarError::BadMagic));
        let mut wrong_version = bytes.clone();
        wrong_version[4] = 9;
        assert!(matches!(
            Cascade::from_postcard(&wrong_version),
            Err(HaarError::Version { found: 9, .. })
        ));
        for cut in 5..bytes.len() {
            assert!(Cascade::from_postcard(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Cascade::from_postcard(&longer), Err(HaarError::TrailingBytes(1)));
    }

    #[test]
    fn validation_rejects_bad_indices_and_loops() {
        let mut c = tiny();
        c.stages[0].weak[0].nodes[0].feature = 3;
        assert!(matches!(c.validate(), Err(HaarError::Invalid(_))));
        let mut c = tiny();
        c.stages[0].weak[0].nodes[0].right = -2;
        assert!(matches!(c.validate(), Err(HaarError::Invalid(_))));
        // A child pointing back at its own node would loop forever.
        let mut c = tiny();
        c.stages[0].weak[0].nodes[0].left = 0;
        c.stages[0].weak[0].nodes.push(Node {
            feature: 0,
            threshold: 0.0,
            left: 1,
            right: 0,
        });
        c.stages[0].weak[0].nodes[0].right = 1;
        assert!(matches!(c.validate(), Err(HaarError::Invalid(_))));
        let mut c = tiny();
        c.features[0].rects[1].x = 3;
        assert!(matches!(c.validate(), Err(HaarError::Invalid(_))));
        let mut c = tiny();
        c.stages[0].threshold = f32::NAN;
        assert!(matches!(c.validate(), Err(HaarError::Invalid(_))));
        // The same checks guard postcard input.
        let mut c = tiny();
        c.stages[0].weak[0].leaves.clear();
        let bytes = postcard::to_allocvec(&(MAGIC, VERSION, &c)).unwrap();
        assert!(matches!(Cascade::from_postcard(&bytes), Err(HaarError::Invalid(_))));
    }
}
