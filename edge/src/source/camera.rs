//! A V4L2 camera (USB webcam, Pi camera through the V4L2 bridge) read with memory-mapped
//! streaming.
//!
//! The driver is asked for grey (`GREY`) or packed YUYV at the requested size; for YUYV only
//! the luma bytes are kept, which is exactly the grey image the detector wants, with no
//! colour conversion. Compressed formats (MJPEG) are refused at open with the list of what
//! the device offered. Any read error is a [`SourceError::Unavailable`]: wrap the camera in
//! [`super::retry::Reconnecting`] to reopen it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use shared::GrayImage;
use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use super::{Frame, FrameSource, SourceError};

const GREY: [u8; 4] = *b"GREY";
const YUYV: [u8; 4] = *b"YUYV";

/// An open V4L2 capture device.
pub struct Camera {
    path: PathBuf,
    stream: Stream<'static>,
    width: u32,
    height: u32,
    stride: usize,
    fourcc: [u8; 4],
    start: Instant,
    index: u64,
    _device: Device,
}

impl Camera {
    /// Opens `path` (e.g. `/dev/video0`) and starts streaming `width x height` frames.
    pub fn open(path: &Path, width: u32, height: u32, start: Instant) -> Result<Self, SourceError> {
        let err = |what: &str, e: std::io::Error| SourceError::Unavailable(format!("{} {what}: {e}", path.display()));
        let device = Device::with_path(path).map_err(|e| err("open", e))?;
        let mut chosen = None;
        for fourcc in [GREY, YUYV] {
            let mut fmt = device.format().map_err(|e| err("get format", e))?;
            fmt.width = width;
            fmt.height = height;
            fmt.fourcc = FourCC::new(&fourcc);
            let fmt = device.set_format(&fmt).map_err(|e| err("set format", e))?;
            if fmt.fourcc.repr == fourcc {
                chosen = Some(fmt);
                break;
            }
        }
        let Some(fmt) = chosen else {
            let offered: Vec<String> = device
                .enum_formats()
                .map(|fs| fs.iter().map(|f| f.fourcc.to_string()).collect())
                .unwrap_or_default();
            return Err(SourceError::Fatal(format!(
                "{} offers neither GREY nor YUYV (offers: {})",
                path.display(),
                offered.join(", ")
            )));
        };
        if (fmt.width, fmt.height) != (width, height) {
            tracing::warn!(requested = %format!("{width}x{height}"), got = %format!("{}x{}", fmt.width, fmt.height), "camera chose another size");
        }
        let mut stream = Stream::with_buffers(&device, Type::VideoCapture, 4).map_err(|e| err("map buffers", e))?;
        // A stalled camera becomes an error, and a turn of the loop, after the deadline.
        stream.set_timeout(super::READ_DEADLINE);
        Ok(Camera {
            path: path.to_path_buf(),
            stream,
            width: fmt.width,
            height: fmt.height,
            stride: fmt.stride as usize,
            fourcc: fmt.fourcc.repr,
            start,
            index: 0,
            _device: device,
        })
    }
}

impl FrameSource for Camera {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let (buf, meta) = CaptureStream::next(&mut self.stream)
            .map_err(|e| SourceError::Unavailable(format!("{} read: {e}", self.path.display())))?;
        let index = self.index;
        self.index += 1;
        let timestamp_ms = self.start.elapsed().as_millis() as u64;
        let used = (meta.bytesused as usize).min(buf.len());
        let (w, h) = (self.width as usize, self.height as usize);
        let bytes_per_pixel = if self.fourcc == YUYV { 2 } else { 1 };
        let stride = self.stride.max(w * bytes_per_pixel);
        if used < stride * h.saturating_sub(1) + w * bytes_per_pixel {
            return Err(SourceError::BadFrame {
                index,
                reason: format!("short frame: {used} bytes"),
            });
        }
        let mut pixels = Vec::with_capacity(w * h);
        for row in buf[..used].chunks(stride).take(h) {
            if bytes_per_pixel == 2 {
                pixels.extend(row[..w * 2].iter().step_by(2));
            } else {
                pixels.extend_from_slice(&row[..w]);
            }
        }
        let image = GrayImage::from_raw(self.width, self.height, pixels).map_err(|e| SourceError::BadFrame {
            index,
            reason: e.to_string(),
        })?;
        Ok(Some(Frame { image, timestamp_ms }))
    }

    fn describe(&self) -> String {
        format!(
            "V4L2 camera {} at {}x{} {}",
            self.path.display(),
            self.width,
            self.height,
            String::from_utf8_lossy(&self.fourcc)
        )
    }
}
