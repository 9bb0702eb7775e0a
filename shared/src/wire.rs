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
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::image::FaceBox;
use crate::labels::Emotion;

mod manifest;
pub use manifest::{EnhancerManifest, EnhancerRef, Metric, ModelManifest, Quantization};

/// Version of the message layout, carried in heartbeats and manifests.
pub const WIRE_VERSION: u16 = 4;

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

    /// Whether every value is a probability, in `0..=1` (NaN and infinities are not).
    pub fn are_probabilities(&self) -> bool {
        self.0.iter().all(|p| (0.0..=1.0).contains(p))
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
/// A frame whose checksum does not match is refused ([`WireError::Checksum`]), and so is a
/// buffer with a zero before its end ([`WireError::Cobs`]): COBS has none inside a frame, so
/// it holds more than one frame, or a damaged one.
pub fn decode_frame(frame: &mut [u8]) -> Result<Packet, WireError> {
    let body = match frame.split_last() {
        Some((0, body)) => body.len(),
        _ => frame.len(),
    };
    if frame[..body].contains(&0) {
        return Err(WireError::Cobs);
    }
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
    /// Another boot id: the sender restarted. Its sequence starts at 0 each boot, so the
    /// new boot's first `missing` packets (its manifest first) were lost before this one.
    Restarted {
        /// How many of the new boot's packets came before this one and were not seen.
        missing: u32,
    },
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
            Some((boot, _)) if boot != packet.boot_id => Continuity::Restarted { missing: packet.seq },
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
mod tests;
