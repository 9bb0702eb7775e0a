//! Face detection as the alert loop needs it: one face (the largest — the driver is the
//! closest person to a dashboard camera), optionally tracked between frames.
//!
//! Detection is the most expensive step on a 640x480 frame, and a driver's head moves little
//! between frames, so [`FaceTracker`] can reuse the last box for `detect_every - 1` frames
//! after each successful detection. A frame without a face always triggers detection on the
//! next one, so a lost face is never carried forward. While a face is tracked, re-detection
//! first searches near it ([`FaceDetector::detect_near`]) and falls back to the whole frame
//! only when the face is not found there.

use shared::{FaceBox, GrayImage};

pub mod haar;

/// Anything that finds faces in a grey frame.
pub trait FaceDetector {
    /// All faces found in `frame` (any order).
    fn detect(&mut self, frame: &GrayImage) -> Vec<FaceBox>;

    /// Faces near `last` (the face found a few frames ago), in frame coordinates; a detector
    /// that cannot search a region searches the whole frame.
    fn detect_near(&mut self, frame: &GrayImage, last: FaceBox) -> Vec<FaceBox> {
        let _ = last;
        self.detect(frame)
    }
}

impl<D: FaceDetector + ?Sized> FaceDetector for Box<D> {
    fn detect(&mut self, frame: &GrayImage) -> Vec<FaceBox> {
        (**self).detect(frame)
    }

    fn detect_near(&mut self, frame: &GrayImage, last: FaceBox) -> Vec<FaceBox> {
        (**self).detect_near(frame, last)
    }
}

/// The largest box by area (first on ties).
pub fn largest(boxes: &[FaceBox]) -> Option<FaceBox> {
    boxes
        .iter()
        .copied()
        .reduce(|best, b| if b.area() > best.area() { b } else { best })
}

/// Whether a frame's face came from the detector or was carried over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceSource {
    /// The detector ran on this frame.
    Detected,
    /// The previous box was reused (detection skipped).
    Tracked,
}

/// Largest-face detection with detection skipped on some frames.
pub struct FaceTracker<D> {
    detector: D,
    detect_every: u32,
    last: Option<FaceBox>,
    since_detect: u32,
}

impl<D: FaceDetector> FaceTracker<D> {
    /// Runs `detector` on every `detect_every`-th frame while a face is tracked (1: every
    /// frame; 0 is taken as 1).
    pub fn new(detector: D, detect_every: u32) -> Self {
        FaceTracker {
            detector,
            detect_every: detect_every.max(1),
            last: None,
            since_detect: 0,
        }
    }

    /// The driver's face in `frame`, if any, and whether the detector ran.
    pub fn locate(&mut self, frame: &GrayImage) -> (Option<FaceBox>, FaceSource) {
        if let Some(face) = self.last
            && self.since_detect + 1 < self.detect_every
        {
            self.since_detect += 1;
            return (Some(face), FaceSource::Tracked);
        }
        let near = self
            .last
            .and_then(|last| largest(&self.detector.detect_near(frame, last)));
        self.last = near.or_else(|| largest(&self.detector.detect(frame)));
        self.since_detect = 0;
        (self.last, FaceSource::Detected)
    }

    /// Forgets the tracked face (e.g. after a frame was dropped).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// Answers whole-frame and near-last-face searches from two scripts.
    #[derive(Default)]
    struct Scripted {
        answers: VecDeque<Vec<FaceBox>>,
        near_answers: VecDeque<Vec<FaceBox>>,
        calls: usize,
        near_calls: Vec<FaceBox>,
    }

    impl FaceDetector for Scripted {
        fn detect(&mut self, _: &GrayImage) -> Vec<FaceBox> {
            self.calls += 1;
            self.answers.pop_front().unwrap_or_default()
        }

        fn detect_near(&mut self, _: &GrayImage, last: FaceBox) -> Vec<FaceBox> {
            self.near_calls.push(last);
            self.near_answers.pop_front().unwrap_or_default()
        }
    }

    #[test]
    fn largest_wins() {
        let small = FaceBox::new(0, 0, 10, 10);
        let big = FaceBox::new(50, 50, 40, 40);
        assert_eq!(largest(&[small, big, small]), Some(big));
        assert_eq!(largest(&[]), None);
    }

    #[test]
    fn detection_is_skipped_while_tracking_and_resumes_after_a_miss() {
        let a = FaceBox::new(1, 1, 30, 30);
        let b = FaceBox::new(5, 5, 30, 30);
        let det = Scripted {
            answers: VecDeque::from([vec![a], vec![], vec![a]]),
            near_answers: VecDeque::from([vec![b], vec![]]),
            ..Scripted::default()
        };
        let mut t = FaceTracker::new(det, 3);
        let img = GrayImage::filled(8, 8, 0);
        let got: Vec<_> = (0..8).map(|_| t.locate(&img)).collect();
        use FaceSource::*;
        assert_eq!(
            got,
            [
                (Some(a), Detected),
                (Some(a), Tracked),
                (Some(a), Tracked),
                (Some(b), Detected),
                (Some(b), Tracked),
                (Some(b), Tracked),
                (None, Detected),    // not near b, nor anywhere in the frame
                (Some(a), Detected), // no track after a miss: detect at once
            ]
        );
        // Whole frame at start, after the near search missed, and after the miss; near the
        // tracked face otherwise.
        assert_eq!(t.detector.calls, 3);
        assert_eq!(t.detector.near_calls, [a, b]);
    }

    #[test]
    fn every_frame_when_detect_every_is_one() {
        let det = Scripted::default();
        let mut t = FaceTracker::new(det, 0);
        let img = GrayImage::filled(8, 8, 0);
        for _ in 0..5 {
            t.locate(&img);
        }
        assert_eq!(t.detector.calls, 5);
    }
}
