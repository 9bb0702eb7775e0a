//! Raw 8-bit grey frames of a fixed size read back to back from a byte stream (stdin), e.g.
//! `ffmpeg -i cam.mp4 -f rawvideo -pix_fmt gray - | edge run --stdin 640x480`.
//!
//! The stream has no framing, so the size must be given; a truncated last frame is reported
//! as a bad frame and then the stream ends. Frames are stamped with the time they arrived.
//! A read blocks until the writer delivers; `edge run` reads it behind a
//! [`super::deadline::Deadline`] so that a stalled writer cannot stall the loop.

use std::io::{ErrorKind, Read};
use std::time::Instant;

use shared::GrayImage;

use super::{Frame, FrameSource, SourceError};

/// Reads `width * height` bytes per frame from any reader.
pub struct RawGreySource<R> {
    reader: R,
    width: u32,
    height: u32,
    start: Instant,
    index: u64,
    ended: bool,
}

impl<R: Read> RawGreySource<R> {
    /// A source of `width x height` frames read from `reader`.
    pub fn new(reader: R, width: u32, height: u32) -> Self {
        RawGreySource {
            reader,
            width,
            height,
            start: Instant::now(),
            index: 0,
            ended: false,
        }
    }
}

impl<R: Read> FrameSource for RawGreySource<R> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.ended {
            return Ok(None);
        }
        let len = self.width as usize * self.height as usize;
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            match self.reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.ended = true;
                    return Err(SourceError::Fatal(format!("reading raw frames: {e}")));
                }
            }
        }
        let index = self.index;
        self.index += 1;
        if filled == 0 {
            self.ended = true;
            return Ok(None);
        }
        if filled < len {
            self.ended = true;
            return Err(SourceError::BadFrame {
                index,
                reason: format!("stream ended inside the frame: {filled} of {len} bytes"),
            });
        }
        let image = GrayImage::from_raw(self.width, self.height, buf).map_err(|e| SourceError::BadFrame {
            index,
            reason: e.to_string(),
        })?;
        Ok(Some(Frame {
            image,
            timestamp_ms: self.start.elapsed().as_millis() as u64,
        }))
    }

    fn describe(&self) -> String {
        format!("raw {}x{} grey frames on stdin", self.width, self.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_frames_then_reports_a_truncated_tail() {
        let bytes: Vec<u8> = (0..2 * 6 + 4).map(|i| i as u8).collect();
        let mut s = RawGreySource::new(&bytes[..], 3, 2);
        let a = s.next_frame().unwrap().unwrap();
        assert_eq!(a.image.pixels(), &[0, 1, 2, 3, 4, 5]);
        let b = s.next_frame().unwrap().unwrap();
        assert_eq!(b.image.pixels(), &[6, 7, 8, 9, 10, 11]);
        assert!(matches!(s.next_frame(), Err(SourceError::BadFrame { index: 2, .. })));
        assert!(s.next_frame().unwrap().is_none());
    }

    #[test]
    fn empty_stream_ends() {
        let mut s = RawGreySource::new(&[][..], 4, 4);
        assert!(s.next_frame().unwrap().is_none());
    }

    #[test]
    fn read_errors_are_fatal() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("pipe broke"))
            }
        }
        let mut s = RawGreySource::new(Broken, 4, 4);
        assert!(matches!(s.next_frame(), Err(SourceError::Fatal(_))));
        assert!(s.next_frame().unwrap().is_none());
    }
}
