//! Messages the edge sends over a serial line or any byte stream, and the model manifest.
//!
//! Encoding is postcard (compact, `no_std`, stable for a given type layout) with COBS framing:
//! each frame ends in a single `0` byte and contains no other zero, so a reader can resync
//! after line noise by waiting for the next zero. The golden byte vectors in the tests pin the
//! format: if one of them changes, the wire format changed and receivers must be updated
//! (bump [`WIRE_VERSION`]).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::image::FaceBox;
use crate::labels::Emotion;
use crate::preprocess::Preprocessing;

/// Version of the message layout, carried in heartbeats and manifests.
pub const WIRE_VERSION: u16 = 2;

/// Wire encoding errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// postcard could not encode or decode the bytes.
    #[error("postcard: {0}")]
    Postcard(postcard::Error),
    /// An incoming frame exceeded the decoder's buffer.
    #[error("frame longer than {0} bytes")]
    FrameTooLong(usize),
}

impl From<postcard::Error> for WireError {
    fn from(e: postcard::Error) -> Self {
        WireError::Postcard(e)
    }
}

/// Why an alert fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlertKind {
    /// Sustained anger.
    Anger,
    /// Sustained fear.
    Fear,
    /// Sustained distress (sadness and disgust together).
    Distress,
    /// No face seen for too long: the driver looks away or is out of frame.
    FaceLost,
}

impl AlertKind {
    /// All kinds, in a fixed order (bit positions in [`Heartbeat::active_alerts`]).
    pub const ALL: [AlertKind; 4] = [
        AlertKind::Anger,
        AlertKind::Fear,
        AlertKind::Distress,
        AlertKind::FaceLost,
    ];

    /// Stable machine name.
    pub const fn name(self) -> &'static str {
        match self {
            AlertKind::Anger => "anger",
            AlertKind::Fear => "fear",
            AlertKind::Distress => "distress",
            AlertKind::FaceLost => "face_lost",
        }
    }

    /// Bit of this kind in an alert mask.
    pub const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Whether an alert starts or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlertPhase {
    /// The condition held long enough: warn.
    Raised,
    /// The condition went away (past hysteresis): stop warning.
    Cleared,
}

/// Class probabilities in [`Emotion::ALL`] order.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct EmotionScores(pub [f32; crate::NUM_CLASSES]);

impl EmotionScores {
    /// Probability of one class.
    pub fn get(&self, emotion: Emotion) -> f32 {
        self.0[emotion.index()]
    }

    /// The most probable class (first on ties).
    pub fn top(&self) -> Emotion {
        let mut best = 0;
        for (i, &p) in self.0.iter().enumerate() {
            if p > self.0[best] {
                best = i;
            }
        }
        Emotion::ALL[best]
    }
}

/// An alert raised or cleared by the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Milliseconds since the edge started (monotonic).
    pub timestamp_ms: u64,
    /// What the alert is about.
    pub kind: AlertKind,
    /// Raised or cleared.
    pub phase: AlertPhase,
    /// Smoothed class probabilities at the decision.
    pub scores: EmotionScores,
    /// The face the decision was made on, if one was seen.
    pub face: Option<FaceBox>,
}

/// Periodic status of the edge loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Milliseconds since the edge started.
    pub timestamp_ms: u64,
    /// [`WIRE_VERSION`] of the sender.
    pub wire_version: u16,
    /// Frames per second over the last interval, times 1000.
    pub fps_milli: u32,
    /// Frames processed since start.
    pub frames: u64,
    /// Frames in which a face was found.
    pub faces: u64,
    /// Frames dropped (unreadable, wrong size, or late).
    pub dropped_frames: u64,
    /// Median inference latency over the last interval, microseconds.
    pub inference_us_p50: u32,
    /// 99th-percentile inference latency over the last interval, microseconds.
    pub inference_us_p99: u32,
    /// Bit mask of active alerts ([`AlertKind::bit`]).
    pub active_alerts: u8,
}

/// How the model's numbers are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quantization {
    /// Plain 32-bit floats.
    Float32,
    /// Static post-training int8 quantisation.
    Int8 {
        /// E.g. "per-channel symmetric weights, per-tensor asymmetric activations, QDQ".
        scheme: String,
        /// Activation calibration method, e.g. "minmax" or "percentile-99.99".
        calibration: String,
        /// Number of calibration images.
        calibration_images: u32,
    },
}

/// A named evaluation figure, e.g. ("ckplus/paper/test accuracy", 0.98).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// What was measured.
    pub name: String,
    /// The value.
    pub value: f32,
}

/// Everything the edge needs to trust and use a model file; written beside each model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// [`WIRE_VERSION`] of the writer.
    pub format_version: u16,
    /// Model name (file stem).
    pub name: String,
    /// Output classes in output order.
    pub labels: Vec<Emotion>,
    /// Input shape (N=1 implied): channels, height, width.
    pub input_chw: [u32; 3],
    /// Preprocessing the model was trained with.
    pub preprocessing: Preprocessing,
    /// Number format.
    pub quantization: Quantization,
    /// Datasets used for training, e.g. ["ckplus", "jaffe", "fer2013"].
    pub datasets: Vec<String>,
    /// Split protocol ("paper" or "subject").
    pub split: String,
    /// Seed of splits, initialisation and shuffling.
    pub seed: u64,
    /// Test metrics.
    pub metrics: Vec<Metric>,
    /// Lower-case hex SHA-256 of the model file.
    pub sha256: String,
    /// Softmax temperature fitted on validation data: scores are `softmax(logits / t)`, so
    /// that a score of 0.6 is right about 60% of the time. Manifests without it mean 1.
    #[serde(default = "unit_temperature")]
    pub temperature: f32,
    /// How the model was trained, in words (targets, augmentation, optimiser, schedule,
    /// epochs), for people reading the manifest; empty in older manifests.
    #[serde(default)]
    pub recipe: String,
}

fn unit_temperature() -> f32 {
    1.0
}

/// Any message on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// An alert.
    Alert(AlertEvent),
    /// A status heartbeat.
    Heartbeat(Heartbeat),
    /// The manifest of the model in use (sent at start-up). Boxed: it is many times the size
    /// of the frequent messages (the encoding is the same).
    Manifest(Box<ModelManifest>),
}

/// Encodes a message as one COBS frame, terminated by a zero byte.
pub fn encode_frame(message: &Message) -> Result<Vec<u8>, WireError> {
    Ok(postcard::to_allocvec_cobs(message)?)
}

/// Decodes one COBS frame (with or without its trailing zero); the buffer is used as scratch.
pub fn decode_frame(frame: &mut [u8]) -> Result<Message, WireError> {
    Ok(postcard::from_bytes_cobs(frame)?)
}

/// Splits a byte stream into frames on zero bytes and decodes each.
///
/// Bytes of an over-long frame are dropped up to the next zero, so one bad frame never
/// blocks the ones after it.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    max_frame: usize,
    overflowed: bool,
}

impl FrameDecoder {
    /// A decoder accepting frames up to `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self {
            buffer: Vec::new(),
            max_frame,
            overflowed: false,
        }
    }

    /// Feeds bytes; returns each complete frame's decoded message or error, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<Message, WireError>> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == 0 {
                if self.overflowed {
                    out.push(Err(WireError::FrameTooLong(self.max_frame)));
                } else if !self.buffer.is_empty() {
                    out.push(decode_frame(&mut self.buffer));
                }
                self.buffer.clear();
                self.overflowed = false;
            } else if self.buffer.len() >= self.max_frame {
                self.overflowed = true;
            } else {
                self.buffer.push(b);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::{Enhancement, Normalization};
    use alloc::string::ToString;
    use alloc::vec;

    fn alert() -> Message {
        Message::Alert(AlertEvent {
            timestamp_ms: 123_456,
            kind: AlertKind::Anger,
            phase: AlertPhase::Raised,
            scores: EmotionScores([0.75, 0.05, 0.05, 0.0, 0.1, 0.05, 0.0]),
            face: Some(FaceBox::new(56, 71, 147, 147)),
        })
    }

    fn heartbeat() -> Message {
        Message::Heartbeat(Heartbeat {
            timestamp_ms: 60_000,
            wire_version: WIRE_VERSION,
            fps_milli: 29_970,
            frames: 1800,
            faces: 1790,
            dropped_frames: 3,
            inference_us_p50: 2100,
            inference_us_p99: 4800,
            active_alerts: AlertKind::Anger.bit() | AlertKind::FaceLost.bit(),
        })
    }

    fn manifest() -> Message {
        Message::Manifest(Box::new(ModelManifest {
            format_version: WIRE_VERSION,
            name: "vigil-int8".to_string(),
            labels: Emotion::ALL.to_vec(),
            input_chw: [1, 48, 48],
            preprocessing: Preprocessing {
                size: 48,
                margin: 0.0,
                enhancement: Enhancement::Clahe {
                    clip_limit: 2.0,
                    tiles: 4,
                },
                normalization: Normalization {
                    scale: 0.5,
                    offset: -1.0,
                },
            },
            quantization: Quantization::Int8 {
                scheme: "qdq".to_string(),
                calibration: "minmax".to_string(),
                calibration_images: 256,
            },
            datasets: vec!["ckplus".to_string()],
            split: "paper".to_string(),
            seed: 42,
            metrics: vec![Metric {
                name: "acc".to_string(),
                value: 0.5,
            }],
            sha256: "ab".to_string(),
            temperature: 1.5,
            recipe: "r".to_string(),
        }))
    }

    fn round_trip(message: Message, golden: &[u8]) {
        let frame = encode_frame(&message).unwrap();
        assert_eq!(frame, golden, "wire format changed: {frame:?}");
        assert_eq!(
            frame.iter().filter(|&&b| b == 0).count(),
            1,
            "exactly one zero, at the end"
        );
        assert_eq!(*frame.last().unwrap(), 0);
        let mut copy = frame.clone();
        assert_eq!(decode_frame(&mut copy).unwrap(), message);
    }

    #[test]
    fn alert_golden() {
        round_trip(alert(), GOLDEN_ALERT);
    }

    #[test]
    fn heartbeat_golden() {
        round_trip(heartbeat(), GOLDEN_HEARTBEAT);
    }

    #[test]
    fn manifest_golden() {
        round_trip(manifest(), GOLDEN_MANIFEST);
    }

    #[test]
    fn stream_decoder_resyncs_after_garbage() {
        let mut stream = vec![1, 2, 3, 0];
        stream.extend(encode_frame(&alert()).unwrap());
        stream.extend(vec![7u8; 600]);
        stream.push(0);
        stream.extend(encode_frame(&heartbeat()).unwrap());
        let mut decoder = FrameDecoder::new(512);
        let (first, rest) = stream.split_at(10);
        let mut results = decoder.push(first);
        results.extend(decoder.push(rest));
        assert_eq!(results.len(), 4);
        assert!(results[0].is_err());
        assert_eq!(results[1].as_ref().unwrap(), &alert());
        assert_eq!(results[2], Err(WireError::FrameTooLong(512)));
        assert_eq!(results[3].as_ref().unwrap(), &heartbeat());
    }

    #[test]
    fn scores_top_and_alert_bits() {
        let s = EmotionScores([0.1, 0.1, 0.5, 0.1, 0.1, 0.05, 0.05]);
        assert_eq!(s.top(), Emotion::Fear);
        assert_eq!(s.get(Emotion::Fear), 0.5);
        let bits: u8 = AlertKind::ALL.iter().map(|k| k.bit()).fold(0, |a, b| a | b);
        assert_eq!(bits, 0b1111);
    }

    #[rustfmt::skip]
    const GOLDEN_ALERT: &[u8] = &[1, 4, 192, 196, 7, 1, 1, 1, 11, 64, 63, 205, 204, 76, 61, 205, 204, 76, 61, 1, 1, 1, 9, 205, 204, 204, 61, 205, 204, 76, 61, 1, 1, 1, 9, 1, 112, 142, 1, 147, 1, 147, 1, 0];
    #[rustfmt::skip]
    const GOLDEN_HEARTBEAT: &[u8] = &[19, 1, 224, 212, 3, 2, 146, 234, 1, 136, 14, 254, 13, 3, 180, 16, 192, 37, 9, 0];
    #[rustfmt::skip]
    const GOLDEN_MANIFEST: &[u8] = &[15, 2, 2, 10, 118, 105, 103, 105, 108, 45, 105, 110, 116, 56, 7, 11, 1, 2, 3, 4, 5, 6, 1, 48, 48, 48, 1, 1, 1, 2, 2, 1, 1, 3, 64, 4, 1, 1, 2, 63, 1, 37, 128, 191, 1, 3, 113, 100, 113, 6, 109, 105, 110, 109, 97, 120, 128, 2, 1, 6, 99, 107, 112, 108, 117, 115, 5, 112, 97, 112, 101, 114, 42, 1, 3, 97, 99, 99, 1, 1, 5, 63, 2, 97, 98, 1, 5, 192, 63, 1, 114, 0];
}
