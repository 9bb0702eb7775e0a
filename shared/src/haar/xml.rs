//! Reading OpenCV's cascade XML (the `opencv-cascade-classifier` format written by
//! `opencv_traincascade` and shipped in OpenCV's `data/haarcascades`).
//!
//! Only available with the `std` feature: XML parsing is a host/edge-side convenience, and the
//! board can load the postcard form instead. Numbers are read as OpenCV's `FileStorage` reads
//! them (as `f64`, then narrowed to `f32`) so thresholds are bit-identical to OpenCV's.

use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;

use roxmltree::{Document, Node as XmlNode};

use super::HaarError;
use super::cascade::{Cascade, HaarFeature, Node, Stage, WeakClassifier, WeightedRect};

fn child<'a, 'i>(node: XmlNode<'a, 'i>, name: &str) -> Option<XmlNode<'a, 'i>> {
    node.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

fn need<'a, 'i>(node: XmlNode<'a, 'i>, name: &str) -> Result<XmlNode<'a, 'i>, HaarError> {
    child(node, name).ok_or_else(|| HaarError::Missing(format!("{}/{name}", node.tag_name().name())))
}

/// The `<_>` items of an OpenCV sequence.
fn items<'a, 'i>(node: XmlNode<'a, 'i>) -> impl Iterator<Item = XmlNode<'a, 'i>> {
    node.children().filter(|c| c.is_element())
}

fn text<'a>(node: XmlNode<'a, '_>) -> &'a str {
    node.text().unwrap_or("").trim()
}

fn number<T: core::str::FromStr>(token: &str, what: &str) -> Result<T, HaarError> {
    token.parse().map_err(|_| HaarError::BadNumber {
        what: what.to_string(),
        text: token.to_string(),
    })
}

fn real(token: &str, what: &str) -> Result<f32, HaarError> {
    Ok(number::<f64>(token, what)? as f32)
}

fn int_text(node: XmlNode<'_, '_>, name: &str) -> Result<i64, HaarError> {
    number(text(need(node, name)?), name)
}

impl Cascade {
    /// Parses an OpenCV cascade XML document (new `opencv-cascade-classifier` format, BOOST
    /// stages over HAAR features) and validates it.
    pub fn from_opencv_xml(xml: &str) -> Result<Cascade, HaarError> {
        let doc = Document::parse(xml).map_err(|e| HaarError::Xml(e.to_string()))?;
        let storage = doc.root_element();
        if storage.tag_name().name() != "opencv_storage" {
            return Err(HaarError::Missing("opencv_storage".into()));
        }
        let root = items(storage)
            .next()
            .ok_or_else(|| HaarError::Missing("cascade".into()))?;
        if root.attribute("type_id") == Some("opencv-haar-classifier") || child(root, "stageType").is_none() {
            return Err(HaarError::Unsupported(
                "old-style cascade (type_id \"opencv-haar-classifier\" or no <stageType>); \
                 convert it to the opencv-cascade-classifier format"
                    .into(),
            ));
        }
        let stage_type = text(need(root, "stageType")?);
        if stage_type != "BOOST" {
            return Err(HaarError::Unsupported(format!(
                "stage type {stage_type:?} (only BOOST)"
            )));
        }
        let feature_type = text(need(root, "featureType")?);
        if feature_type != "HAAR" {
            return Err(HaarError::Unsupported(format!(
                "feature type {feature_type:?} (only HAAR)"
            )));
        }
        let window = |name: &str| -> Result<u16, HaarError> {
            let v = int_text(root, name)?;
            u16::try_from(v).map_err(|_| HaarError::Invalid(format!("window {name} {v}")))
        };
        let (width, height) = (window("width")?, window("height")?);
        let categories = match child(root, "featureParams") {
            Some(params) if child(params, "maxCatCount").is_some() => int_text(params, "maxCatCount")?,
            _ => 0,
        };
        if categories > 0 {
            return Err(HaarError::Unsupported("categorical features (maxCatCount > 0)".into()));
        }

        let mut stages = Vec::new();
        for (si, st) in items(need(root, "stages")?).enumerate() {
            let threshold = real(text(need(st, "stageThreshold")?), &format!("stage {si} threshold"))?;
            let mut weak = Vec::new();
            for (wi, w) in items(need(st, "weakClassifiers")?).enumerate() {
                let what = format!("stage {si} classifier {wi}");
                let tokens: Vec<&str> = text(need(w, "internalNodes")?).split_whitespace().collect();
                if tokens.is_empty() || !tokens.len().is_multiple_of(4) {
                    return Err(HaarError::Invalid(format!(
                        "{what}: internalNodes has {} numbers, expected groups of 4 (left right feature threshold)",
                        tokens.len()
                    )));
                }
                let nodes = tokens
                    .chunks_exact(4)
                    .map(|n| {
                        Ok(Node {
                            left: number(n[0], &what)?,
                            right: number(n[1], &what)?,
                            feature: number(n[2], &what)?,
                            threshold: real(n[3], &what)?,
                        })
                    })
                    .collect::<Result<Vec<_>, HaarError>>()?;
                let leaves = text(need(w, "leafValues")?)
                    .split_whitespace()
                    .map(|t| real(t, &what))
                    .collect::<Result<Vec<_>, _>>()?;
                weak.push(WeakClassifier { nodes, leaves });
            }
            stages.push(Stage { threshold, weak });
        }

        let mut features = Vec::new();
        for (fi, f) in items(need(root, "features")?).enumerate() {
            let tilted = child(f, "tilted")
                .map(|t| text(t) != "0" && !text(t).is_empty())
                .unwrap_or(false);
            if tilted {
                return Err(HaarError::Unsupported(format!(
                    "feature {fi} is a tilted (45 degree) Haar feature"
                )));
            }
            let what = format!("feature {fi} rectangle");
            let mut rects = Vec::new();
            for r in items(need(f, "rects")?) {
                let t: Vec<&str> = text(r).split_whitespace().collect();
                if t.len() != 5 {
                    return Err(HaarError::Invalid(format!(
                        "{what}: {:?} is not \"x y width height weight\"",
                        text(r)
                    )));
                }
                let coord = |s: &str| -> Result<u16, HaarError> {
                    let v: i64 = number(s, &what)?;
                    u16::try_from(v).map_err(|_| HaarError::Invalid(format!("{what}: coordinate {v} out of range")))
                };
                rects.push(WeightedRect {
                    x: coord(t[0])?,
                    y: coord(t[1])?,
                    width: coord(t[2])?,
                    height: coord(t[3])?,
                    weight: real(t[4], &what)?,
                });
            }
            features.push(HaarFeature { rects });
        }
        Cascade::new(width, height, stages, features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haar::DetectParams;
    use crate::image::GrayImage;
    use alloc::string::String;

    fn models() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
    }

    fn default_xml() -> String {
        std::fs::read_to_string(models().join("haarcascade_frontalface_default.xml"))
            .expect("cascade shipped in models/")
    }

    #[test]
    fn parses_the_shipped_frontal_face_cascade() {
        let c = Cascade::from_opencv_xml(&default_xml()).unwrap();
        assert_eq!(c.window_size(), (24, 24));
        assert_eq!(c.stages().len(), 25);
        assert_eq!(c.stages()[0].weak.len(), 9);
        assert_eq!(c.stages()[23].weak.len(), 211);
        assert_eq!(c.stages()[24].weak.len(), 200);
        assert!(c.is_stump_based());
        assert_eq!(c.features().len(), 2913);
        // First stage threshold and first stump, as written in the file.
        assert_eq!(
            c.stages()[0].threshold,
            "-5.0425500869750977e+00".parse::<f64>().unwrap() as f32
        );
        let n = c.stages()[0].weak[0].nodes[0];
        assert_eq!((n.left, n.right, n.feature), (0, -1, 0));
        assert_eq!(n.threshold, "-3.1511999666690826e-02".parse::<f64>().unwrap() as f32);
        let f = &c.features()[0].rects;
        assert_eq!(
            (f[0].x, f[0].y, f[0].width, f[0].height, f[0].weight),
            (6, 4, 12, 9, -1.0)
        );
    }

    #[test]
    fn postcard_form_equals_xml_form_and_detects_the_same() {
        let c = Cascade::from_opencv_xml(&default_xml()).unwrap();
        let blob = c.to_postcard().unwrap();
        assert!(blob.len() < 150_000, "postcard blob is {} bytes", blob.len());
        let back = Cascade::from_postcard(&blob).unwrap();
        assert_eq!(back, c);
        let face = crate::haar::tests::drawn_face(160, 120);
        let p = DetectParams {
            min_neighbors: 0,
            min_size: 24,
            ..DetectParams::default()
        };
        let raw = c.detect_candidates(&face, &p).unwrap();
        assert!(!raw.is_empty(), "the drawn face should fire the cascade at least once");
        assert_eq!(back.detect_candidates(&face, &p).unwrap(), raw);
        let p = DetectParams { min_neighbors: 1, ..p };
        assert_eq!(back.detect(&face, &p), c.detect(&face, &p));
    }

    #[test]
    fn tree_cascade_alt2_parses() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/haarcascades/haarcascade_frontalface_alt2.xml");
        let Ok(xml) = std::fs::read_to_string(&path) else {
            std::eprintln!("SKIPPED tree_cascade_alt2_parses: {} not present", path.display());
            return;
        };
        let c = Cascade::from_opencv_xml(&xml).unwrap();
        assert_eq!(c.window_size(), (20, 20));
        assert_eq!(c.stages().len(), 20);
        assert!(!c.is_stump_based());
        let _ = c.detect(&GrayImage::filled(64, 48, 7), &DetectParams::default());
    }

    #[test]
    fn malformed_and_unsupported_xml_are_clear_errors() {
        assert!(matches!(
            Cascade::from_opencv_xml("<opencv_storage><cascade>"),
            Err(HaarError::Xml(_))
        ));
        assert!(matches!(
            Cascade::from_opencv_xml("<other/>"),
            Err(HaarError::Missing(_))
        ));
        let old = r#"<opencv_storage><c type_id="opencv-haar-classifier"><size>24 24</size></c></opencv_storage>"#;
        assert!(matches!(Cascade::from_opencv_xml(old), Err(HaarError::Unsupported(_))));
        let xml = default_xml();
        let lbp = xml.replacen("<featureType>HAAR</featureType>", "<featureType>LBP</featureType>", 1);
        assert!(matches!(Cascade::from_opencv_xml(&lbp), Err(HaarError::Unsupported(m)) if m.contains("LBP")));
        let tilted = xml.replacen("<tilted>0</tilted>", "<tilted>1</tilted>", 1);
        let tilted = if tilted == xml {
            xml.replacen("</rects></_>", "</rects>\n      <tilted>1</tilted></_>", 1)
        } else {
            tilted
        };
        assert!(matches!(Cascade::from_opencv_xml(&tilted), Err(HaarError::Unsupported(m)) if m.contains("tilted")));
        let bad_number = xml.replacen("-5.0425500869750977e+00", "minus five", 1);
        assert!(matches!(
            Cascade::from_opencv_xml(&bad_number),
            Err(HaarError::BadNumber { .. })
        ));
        let bad_feature = xml.replacen(
            "0 -1 0 -3.1511999666690826e-02",
            "0 -1 99999 -3.1511999666690826e-02",
            1,
        );
        assert!(matches!(
            Cascade::from_opencv_xml(&bad_feature),
            Err(HaarError::Invalid(_))
        ));
        let no_stages = xml
            .replacen("<stages>", "<stagez>", 1)
            .replacen("</stages>", "</stagez>", 1);
        assert!(matches!(
            Cascade::from_opencv_xml(&no_stages),
            Err(HaarError::Missing(_))
        ));
    }
}
