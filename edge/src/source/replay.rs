//! A directory of images replayed in file-name order at a fixed frame rate: the bench and
//! test stand-in for a camera, and a way to re-run a recorded drive.
//!
//! Frame `i` is stamped `i * 1000 / fps` ms whether or not the replay is paced to real time,
//! so alerts on a replay are reproducible and independent of how fast the machine is. With
//! pacing on, frames are released at the wall-clock rate as a camera would deliver them.
//! A file that cannot be decoded is a bad frame (dropped and counted), not the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shared::GrayImage;

use super::{Frame, FrameSource, SourceError};

/// Decodes one image file to grey (`edge run` uses [`artifacts::image::load`]; tests plug in
/// their own). Any error makes the frame a [`SourceError::BadFrame`] with its message.
pub type ImageLoader = Box<dyn FnMut(&Path) -> Result<GrayImage, Box<dyn std::error::Error + Send + Sync>> + Send>;

/// Replay rates accepted, frames per second. Frame times are `i * 1000 / fps` ms, so a rate
/// near zero would put them past any clock; above 1000 fps two frames share a millisecond.
pub const FPS_RANGE: core::ops::RangeInclusive<f64> = 0.01..=1000.0;

/// Replays image files in name order.
pub struct ReplaySource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    fps: f64,
    pace: bool,
    loader: ImageLoader,
    next: usize,
    start: Option<Instant>,
}

impl ReplaySource {
    /// Lists the images in `dir` (sorted by file name) to replay at `fps` frames per second;
    /// `pace` releases them at that rate in real time, otherwise as fast as they are asked.
    pub fn new(dir: &Path, fps: f64, pace: bool, loader: ImageLoader) -> Result<Self, SourceError> {
        if !FPS_RANGE.contains(&fps) {
            return Err(SourceError::Fatal(format!(
                "replay fps must be in {}..={}, got {fps}",
                FPS_RANGE.start(),
                FPS_RANGE.end()
            )));
        }
        let entries =
            std::fs::read_dir(dir).map_err(|e| SourceError::Fatal(format!("listing {}: {e}", dir.display())))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| SourceError::Fatal(format!("listing {}: {e}", dir.display())))?
                .path();
            // Files of other kinds in the directory are ignored.
            if artifacts::image::is_image_file(&path) && !path.is_dir() {
                files.push(path);
            }
        }
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        if files.is_empty() {
            return Err(SourceError::Fatal(format!(
                "no images ({}) in {}",
                artifacts::image::IMAGE_EXTENSIONS.join(", "),
                dir.display()
            )));
        }
        Ok(ReplaySource {
            dir: dir.to_path_buf(),
            files,
            fps,
            pace,
            loader,
            next: 0,
            start: None,
        })
    }

    /// The files in replay order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl FrameSource for ReplaySource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let Some(path) = self.files.get(self.next).cloned() else {
            return Ok(None);
        };
        let index = self.next as u64;
        self.next += 1;
        let offset = Duration::from_secs_f64(index as f64 / self.fps);
        let start = *self.start.get_or_insert_with(Instant::now);
        if self.pace
            && let Some(wait) = (start + offset).checked_duration_since(Instant::now())
        {
            std::thread::sleep(wait);
        }
        let image = (self.loader)(&path).map_err(|reason| SourceError::BadFrame {
            index,
            reason: format!("{}: {reason}", path.display()),
        })?;
        Ok(Some(Frame {
            image,
            timestamp_ms: offset.as_millis() as u64,
        }))
    }

    fn describe(&self) -> String {
        format!(
            "replay of {} images in {} at {} fps",
            self.files.len(),
            self.dir.display(),
            self.fps
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test loader: the file's bytes must be `W H pixels...` (a tiny raw format).
    fn raw_loader() -> ImageLoader {
        Box::new(|p: &Path| {
            let bytes = std::fs::read(p)?;
            if bytes.len() < 2 {
                return Err("too short".into());
            }
            Ok(GrayImage::from_raw(
                bytes[0] as u32,
                bytes[1] as u32,
                bytes[2..].to_vec(),
            )?)
        })
    }

    #[test]
    fn replays_images_in_name_order_with_frame_clock_stamps() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.png"), [1, 1, 20]).unwrap();
        std::fs::write(dir.path().join("a.png"), [1, 1, 10]).unwrap();
        std::fs::write(dir.path().join("c.PGM"), [1, 1, 30]).unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not a frame").unwrap();
        std::fs::write(dir.path().join("d.png"), [2, 2, 1]).unwrap(); // corrupt
        let mut s = ReplaySource::new(dir.path(), 20.0, false, raw_loader()).unwrap();
        assert_eq!(s.files().len(), 4);
        let mut got = Vec::new();
        for _ in 0..3 {
            let f = s.next_frame().unwrap().unwrap();
            got.push((f.image.pixels()[0], f.timestamp_ms));
        }
        assert_eq!(got, [(10, 0), (20, 50), (30, 100)]);
        assert!(matches!(s.next_frame(), Err(SourceError::BadFrame { index: 3, .. })));
        assert!(s.next_frame().unwrap().is_none());
    }

    #[test]
    fn pacing_releases_frames_in_real_time() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..4 {
            std::fs::write(dir.path().join(format!("{i}.png")), [1, 1, i]).unwrap();
        }
        let mut s = ReplaySource::new(dir.path(), 50.0, true, raw_loader()).unwrap();
        let t0 = Instant::now();
        while s.next_frame().unwrap().is_some() {}
        assert!(t0.elapsed() >= Duration::from_millis(60), "{:?}", t0.elapsed());
    }

    #[test]
    fn empty_or_missing_directories_and_bad_fps_are_fatal() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            ReplaySource::new(dir.path(), 30.0, false, raw_loader()),
            Err(SourceError::Fatal(_))
        ));
        let missing = dir.path().join("nope");
        assert!(matches!(
            ReplaySource::new(&missing, 30.0, false, raw_loader()),
            Err(SourceError::Fatal(_))
        ));
        std::fs::write(dir.path().join("a.png"), [1, 1, 0]).unwrap();
        for fps in [1e-20, 1e6, f64::NAN, f64::INFINITY, -1.0] {
            assert!(
                matches!(
                    ReplaySource::new(dir.path(), fps, false, raw_loader()),
                    Err(SourceError::Fatal(_))
                ),
                "{fps}"
            );
        }
        assert!(matches!(
            ReplaySource::new(dir.path(), 0.0, false, raw_loader()),
            Err(SourceError::Fatal(_))
        ));
    }
}
