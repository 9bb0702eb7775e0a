//! Where frames come from: a V4L2 camera, a directory of images replayed at a fixed rate, or
//! raw grey frames on stdin — all behind one [`FrameSource`] trait so the alert loop does not
//! care, and tests can script any sequence of good frames, bad frames and device failures.
//!
//! Errors are sorted by what the loop should do about them: a [`SourceError::BadFrame`] is
//! dropped and counted, a [`SourceError::Unavailable`] device is waited for (the
//! [`retry::Reconnecting`] wrapper reopens it with exponential back-off), and only a
//! [`SourceError::Fatal`] error or the end of the stream stops the loop.

#[cfg(all(feature = "v4l", target_os = "linux"))]
pub mod camera;
pub mod deadline;
pub mod replay;
pub mod retry;
pub mod stdin;

use std::time::Duration;

use shared::GrayImage;

/// The longest a live source (camera, stdin) may take to deliver a frame before the loop
/// takes a turn without one: a stalled device or pipe shows in half a second, not never.
pub const READ_DEADLINE: Duration = Duration::from_millis(500);

/// One captured frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The grey image.
    pub image: GrayImage,
    /// Capture time, milliseconds since the source started (monotonic). The policy runs on
    /// this clock, so a replay decides exactly as the recording would have live.
    pub timestamp_ms: u64,
}

/// What went wrong reading a frame.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// This frame is unusable (corrupt, truncated, wrong size); later ones may be fine.
    #[error("bad frame {index}: {reason}")]
    BadFrame {
        /// Frame number within the source.
        index: u64,
        /// Why it was rejected.
        reason: String,
    },
    /// The device is gone or failing; it may come back.
    #[error("source unavailable: {0}")]
    Unavailable(String),
    /// The source cannot go on (e.g. the directory cannot be listed).
    #[error("source failed: {0}")]
    Fatal(String),
}

/// A stream of grey frames.
pub trait FrameSource {
    /// The next frame; `Ok(None)` when the stream has ended.
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;

    /// Short human description for logs ("replay of 213 images in data/jaffe at 30 fps").
    fn describe(&self) -> String;
}

impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        (**self).next_frame()
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// A frame size that [`parse_size`] refuses; holds the text given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not two numbers around an `x`.
    #[error("size {0:?} is not WIDTHxHEIGHT, e.g. 640x480")]
    Format(String),
    /// A side that is not a whole number in `1..=16384`.
    #[error("size {0:?}: width and height must be whole numbers in 1..=16384")]
    Range(String),
}

/// Parses a `WIDTHxHEIGHT` size such as `640x480`.
pub fn parse_size(s: &str) -> Result<(u32, u32), SizeError> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| SizeError::Format(s.to_string()))?;
    let parse = |v: &str| v.trim().parse::<u32>().ok().filter(|&v| (1..=16_384).contains(&v));
    match (parse(w), parse(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(SizeError::Range(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("640x480"), Ok((640, 480)));
        assert_eq!(parse_size("48X48"), Ok((48, 48)));
        assert_eq!(parse_size("640"), Err(SizeError::Format("640".into())));
        assert!(matches!(parse_size("0x480"), Err(SizeError::Range(_))));
        assert!(matches!(parse_size("ax480"), Err(SizeError::Range(_))));
        let e = parse_size("99999x1").unwrap_err().to_string();
        assert_eq!(
            e,
            r#"size "99999x1": width and height must be whole numbers in 1..=16384"#
        );
    }
}
