//! Messages the edge sends over a serial line or any byte stream, and the model manifest.
//!
//! Each [`Message`] travels in a [`Packet`] that names its sender's boot (a random id per
//! start) and its place in that boot's stream (a sequence number), so a receiver can tell a
//! lost, repeated or reordered frame and a restarted edge from a quiet one ([`Continuity`]).
//! Encoding: postcard (compact, `no_std`, stable for a given type layout), then a CRC-32 of
//! those bytes (little-endian), then COBS framing: each frame ends in a single `0` byte and
//! contains no other zero, so a reader resyncs after line noise at the next zero, and the CRC
//! rejects a frame that noise altered. The golden byte vectors in the tests pin the format:
//! if one of them changes, the wire format changed and receivers must be updated (bump
//! [`WIRE_VERSION`]).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::image::FaceBox;
use crate::labels::Emotion;
use crate::preprocess::Preprocessing;

/// Version of the message layout, carried in heartbeats and manifests.
pub const WIRE_VERSION: u16 = 3;

/// Wire encoding errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// postcard could not encode or decode the bytes.
    #[error("postcard: {0}")]
    Postcard(postcard::Error),
    /// An incoming frame exceeded the decoder's buffer.
    #[error("frame longer than {0} bytes")]
    FrameTooLong(usize),
    /// The frame is not valid COBS.
    #[error("frame is not valid COBS")]
    Cobs,
    /// The frame is too short to hold a checksum.
    #[error("frame of {0} bytes is too short")]
    TooShort(usize),
    /// The checksum does not match the bytes: the frame was altered on the way.
    #[error("checksum mismatch: frame says {expected:08x}, bytes give {actual:08x}")]
    Checksum {
        /// CRC-32 carried by the frame.
        expected: u32,
        /// CRC-32 of the frame's bytes.
        actual: u32,
    },
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
    /// The monitor is not watching: no frames, no decisions, or its outputs failing
    /// ([`FaultCause`] in heartbeats says which). Never disabled.
    Fault,
}

impl AlertKind {
    /// All kinds, in a fixed order (bit positions in [`Heartbeat::active_alerts`]).
    pub const ALL: [AlertKind; 5] = [
        AlertKind::Anger,
        AlertKind::Fear,
        AlertKind::Distress,
        AlertKind::FaceLost,
        AlertKind::Fault,
    ];

    /// Stable machine name.
    pub const fn name(self) -> &'static str {
        match self {
            AlertKind::Anger => "anger",
            AlertKind::Fear => "fear",
            AlertKind::Distress => "distress",
            AlertKind::FaceLost => "face_lost",
            AlertKind::Fault => "fault",
        }
    }

    /// Bit of this kind in an alert mask.
    pub const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Why the monitor is in fault: what stopped it from deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FaultCause {
    /// No frames arrive: the camera stalled, vanished or cannot be opened.
    NoFrames,
    /// Frames arrive but none is decided on: preprocessing or inference keeps failing, or
    /// the frames are unusable.
    NoDecisions,
    /// An output (buzzer, LED, serial, stdout) keeps failing, so alerts may not reach the
    /// driver.
    Outputs,
}

impl FaultCause {
    /// Stable machine name.
    pub const fn name(self) -> &'static str {
        match self {
            FaultCause::NoFrames => "no_frames",
            FaultCause::NoDecisions => "no_decisions",
            FaultCause::Outputs => "outputs",
        }
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
    /// Times the frame source was unavailable (camera gone, read timeout) since start.
    pub source_errors: u64,
    /// Output failures (serial, GPIO, stdout) since start.
    pub output_errors: u64,
    /// Median inference latency over the last interval, microseconds.
    pub inference_us_p50: u32,
    /// 99th-percentile inference latency over the last interval, microseconds.
    pub inference_us_p99: u32,
    /// Bit mask of active alerts ([`AlertKind::bit`]).
    pub active_alerts: u8,
    /// Why the fault alert is active, if it is.
    pub fault: Option<FaultCause>,
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

/// One message as sent: the sender's boot, its place in the stream, the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Packet {
    /// Random per start of the sender: a new id means the edge restarted.
    pub boot_id: u32,
    /// Counts up by one per packet from 0 at each boot (wrapping).
    pub seq: u32,
    /// The payload.
    pub message: Message,
}

/// Encodes a packet as one frame: postcard, CRC-32 (little-endian), COBS, a trailing zero.
pub fn encode_frame(packet: &Packet) -> Result<Vec<u8>, WireError> {
    let mut bytes = postcard::to_allocvec(packet)?;
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let mut frame = cobs::encode_vec(&bytes);
    frame.push(0);
    Ok(frame)
}

/// Decodes one frame (with or without its trailing zero); the buffer is used as scratch.
/// A frame whose checksum does not match is refused ([`WireError::Checksum`]).
pub fn decode_frame(frame: &mut [u8]) -> Result<Packet, WireError> {
    let body = match frame.split_last() {
        Some((0, body)) => body.len(),
        _ => frame.len(),
    };
    let n = cobs::decode_in_place(&mut frame[..body]).map_err(|_| WireError::Cobs)?;
    if n < 4 {
        return Err(WireError::TooShort(n));
    }
    let (bytes, crc) = frame[..n].split_at(n - 4);
    let expected = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let actual = crc32fast::hash(bytes);
    if expected != actual {
        return Err(WireError::Checksum { expected, actual });
    }
    Ok(postcard::from_bytes(bytes)?)
}

/// How a received packet relates to the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// The first packet seen.
    First,
    /// The next one expected.
    InOrder,
    /// `missing` packets between the last one and this were lost.
    Gap {
        /// How many sequence numbers were skipped.
        missing: u32,
    },
    /// A sequence number at or before the last one of the same boot: repeated or reordered.
    Stale,
    /// Another boot id: the sender restarted (its sequence starts again).
    Restarted,
}

/// Tracks boot id and sequence numbers of received packets; see [`Continuity`].
#[derive(Debug, Clone, Default)]
pub struct SequenceCheck {
    last: Option<(u32, u32)>,
}

/// Sequence numbers further ahead than this are taken as stale (wrapped behind), not as a gap.
const MAX_GAP: u32 = u32::MAX / 2;

impl SequenceCheck {
    /// Classifies `packet` and, unless it is stale, makes it the latest.
    pub fn check(&mut self, packet: &Packet) -> Continuity {
        let this = (packet.boot_id, packet.seq);
        let continuity = match self.last {
            None => Continuity::First,
            Some((boot, _)) if boot != packet.boot_id => Continuity::Restarted,
            Some((_, seq)) => match packet.seq.wrapping_sub(seq) {
                1 => Continuity::InOrder,
                d if d == 0 || d > MAX_GAP => Continuity::Stale,
                d => Continuity::Gap { missing: d - 1 },
            },
        };
        if continuity != Continuity::Stale {
            self.last = Some(this);
        }
        continuity
    }
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

    /// Feeds bytes; returns each complete frame's decoded packet or error, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<Packet, WireError>> {
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
            source_errors: 2,
            output_errors: 1,
            active_alerts: AlertKind::Anger.bit() | AlertKind::Fault.bit(),
            fault: Some(FaultCause::Outputs),
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

    fn packet(seq: u32, message: Message) -> Packet {
        Packet {
            boot_id: 0xB007_1D00,
            seq,
            message,
        }
    }

    fn round_trip(message: Message, golden: &[u8]) {
        let packet = packet(7, message);
        let frame = encode_frame(&packet).unwrap();
        assert_eq!(frame, golden, "wire format changed: {frame:?}");
        assert_eq!(
            frame.iter().filter(|&&b| b == 0).count(),
            1,
            "exactly one zero, at the end"
        );
        assert_eq!(*frame.last().unwrap(), 0);
        let mut copy = frame.clone();
        assert_eq!(decode_frame(&mut copy).unwrap(), packet);
        let mut unterminated = frame[..frame.len() - 1].to_vec();
        assert_eq!(decode_frame(&mut unterminated).unwrap(), packet);
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

    /// Every single-bit error in an alert frame's body is refused (by COBS, the checksum or
    /// postcard), never decoded as a different alert.
    #[test]
    fn every_flipped_bit_is_detected() {
        let frame = encode_frame(&packet(1, alert())).unwrap();
        for byte in 0..frame.len() - 1 {
            for bit in 0..8 {
                let mut bad = frame.clone();
                bad[byte] ^= 1 << bit;
                if bad[byte] == 0 {
                    // A new zero splits the frame; the stream test covers resync.
                    continue;
                }
                assert!(decode_frame(&mut bad).is_err(), "byte {byte} bit {bit} went undetected");
            }
        }
    }

    #[test]
    fn lost_repeated_reordered_and_restarted_streams_are_told_apart() {
        let mut check = SequenceCheck::default();
        let at = |boot: u32, seq: u32| Packet {
            boot_id: boot,
            seq,
            message: heartbeat(),
        };
        assert_eq!(check.check(&at(1, 10)), Continuity::First);
        assert_eq!(check.check(&at(1, 11)), Continuity::InOrder);
        assert_eq!(check.check(&at(1, 14)), Continuity::Gap { missing: 2 });
        assert_eq!(check.check(&at(1, 13)), Continuity::Stale, "reordered");
        assert_eq!(check.check(&at(1, 14)), Continuity::Stale, "repeated");
        assert_eq!(check.check(&at(1, 15)), Continuity::InOrder);
        assert_eq!(check.check(&at(2, 0)), Continuity::Restarted);
        assert_eq!(check.check(&at(2, 1)), Continuity::InOrder);
        let mut wrap = SequenceCheck::default();
        wrap.check(&at(3, u32::MAX));
        assert_eq!(wrap.check(&at(3, 0)), Continuity::InOrder, "wraps");
    }

    /// A receiver sees corrupted, dropped and reordered frames for what they are.
    #[test]
    fn decoder_and_sequence_check_detect_corrupted_dropped_and_reordered_frames() {
        let frames: Vec<Vec<u8>> = (0..6).map(|i| encode_frame(&packet(i, heartbeat())).unwrap()).collect();
        let mut corrupted = frames[1].clone();
        corrupted[5] ^= 0x10;
        // 0, 1 (corrupted), 3 (2 dropped), 5, 4 (reordered)
        let stream: Vec<u8> = [&frames[0], &corrupted, &frames[3], &frames[5], &frames[4]]
            .iter()
            .flat_map(|f| f.iter().copied())
            .collect();
        let mut decoder = FrameDecoder::new(512);
        let mut check = SequenceCheck::default();
        let seen: Vec<Result<Continuity, WireError>> = decoder
            .push(&stream)
            .into_iter()
            .map(|r| r.map(|p| check.check(&p)))
            .collect();
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[0], Ok(Continuity::First));
        assert!(seen[1].is_err(), "corrupted: {:?}", seen[1]);
        assert_eq!(seen[2], Ok(Continuity::Gap { missing: 2 }), "1 corrupted and 2 dropped");
        assert_eq!(seen[3], Ok(Continuity::Gap { missing: 1 }));
        assert_eq!(seen[4], Ok(Continuity::Stale), "reordered");
    }

    #[test]
    fn stream_decoder_resyncs_after_garbage() {
        let mut stream = vec![1, 2, 3, 0];
        stream.extend(encode_frame(&packet(0, alert())).unwrap());
        stream.extend(vec![7u8; 600]);
        stream.push(0);
        stream.extend(encode_frame(&packet(1, heartbeat())).unwrap());
        let mut decoder = FrameDecoder::new(512);
        let (first, rest) = stream.split_at(10);
        let mut results = decoder.push(first);
        results.extend(decoder.push(rest));
        assert_eq!(results.len(), 4);
        assert!(results[0].is_err());
        assert_eq!(results[1].as_ref().unwrap().message, alert());
        assert_eq!(results[2], Err(WireError::FrameTooLong(512)));
        assert_eq!(results[3].as_ref().unwrap().message, heartbeat());
    }

    #[test]
    fn scores_top_and_alert_bits() {
        let s = EmotionScores([0.1, 0.1, 0.5, 0.1, 0.1, 0.05, 0.05]);
        assert_eq!(s.top(), Emotion::Fear);
        assert_eq!(s.get(Emotion::Fear), 0.5);
        let bits: u8 = AlertKind::ALL.iter().map(|k| k.bit()).fold(0, |a, b| a | b);
        assert_eq!(bits, 0b1_1111);
    }

    #[rustfmt::skip]
    const GOLDEN_ALERT: &[u8] = &[7, 128, 186, 156, 128, 11, 7, 4, 192, 196, 7, 1, 1, 1, 11, 64, 63, 205, 204, 76, 61, 205, 204, 76, 61, 1, 1, 1, 9, 205, 204, 204, 61, 205, 204, 76, 61, 1, 1, 1, 13, 1, 112, 142, 1, 147, 1, 147, 1, 183, 245, 133, 20, 0];
    #[rustfmt::skip]
    const GOLDEN_HEARTBEAT: &[u8] = &[33, 128, 186, 156, 128, 11, 7, 1, 224, 212, 3, 3, 146, 234, 1, 136, 14, 254, 13, 3, 2, 1, 180, 16, 192, 37, 17, 1, 2, 230, 80, 43, 39, 0];
    #[rustfmt::skip]
    const GOLDEN_MANIFEST: &[u8] = &[21, 128, 186, 156, 128, 11, 7, 2, 3, 10, 118, 105, 103, 105, 108, 45, 105, 110, 116, 56, 7, 11, 1, 2, 3, 4, 5, 6, 1, 48, 48, 48, 1, 1, 1, 2, 2, 1, 1, 3, 64, 4, 1, 1, 2, 63, 1, 37, 128, 191, 1, 3, 113, 100, 113, 6, 109, 105, 110, 109, 97, 120, 128, 2, 1, 6, 99, 107, 112, 108, 117, 115, 5, 112, 97, 112, 101, 114, 42, 1, 3, 97, 99, 99, 1, 1, 5, 63, 2, 97, 98, 1, 9, 192, 63, 1, 114, 243, 245, 202, 25, 0];
}
