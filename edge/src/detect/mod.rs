//! Face detection as the alert loop needs it: one face (the largest — the driver is the
//! closest person to a dashboard camera), optionally tracked between frames.
//!
//! Detection is the most expensive step on a 640x480 frame, and a driver's head moves little
//! between frames, so [`FaceTracker`] can reuse the last box for `detect_every - 1` frames
//! after each successful detection. A frame without a face always triggers detection on the
//! next one, so a lost face is never carried forward. While a face is tracked, re-detection
//! first searches near it ([`FaceDetector::detect_near`]) and falls back to the whole frame
//! only when the face is not found there.
//!
//! With box smoothing on, the tracker runs each detection through a constant-velocity
//! Kalman filter ([`kalman::BoxFilter`]) and returns the filtered box, and on skipped frames
//! the filter's prediction for that frame's time instead of the stale box: the crops stop
//! jittering with the detector and follow a moving head. A still face detected at the same
//! box every time comes out as exactly that box.

use shared::haar::largest;
use shared::{FaceBox, GrayImage};

pub mod haar;
pub mod kalman;

use kalman::BoxFilter;

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

/// Whether a frame's face came from the detector or was carried over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceSource {
    /// The detector ran on this frame.
    Detected,
    /// Detection was skipped: the previous box was reused, or predicted when smoothing.
    Tracked,
}

/// Largest-face detection with detection skipped on some frames, optionally smoothed.
pub struct FaceTracker<D> {
    detector: D,
    detect_every: u32,
    /// The box returned for the last frame; `None`: no face tracked.
    last: Option<FaceBox>,
    since_detect: u32,
    /// The Kalman filter over the box, when smoothing is on.
    filter: Option<BoxFilter>,
}

impl<D: FaceDetector> FaceTracker<D> {
    /// Runs `detector` on every `detect_every`-th frame while a face is tracked (1: every
    /// frame; 0 is taken as 1). With `smooth_box`, detections are Kalman-filtered and
    /// skipped frames get the predicted box; without, the last detected box is reused.
    pub fn new(detector: D, detect_every: u32, smooth_box: bool) -> Self {
        FaceTracker {
            detector,
            detect_every: detect_every.max(1),
            last: None,
            since_detect: 0,
            filter: smooth_box.then(BoxFilter::new),
        }
    }

    /// The driver's face in `frame`, taken at `t_ms` (ms on the frames' clock), if any, and
    /// whether the detector ran.
    pub fn locate(&mut self, frame: &GrayImage, t_ms: u64) -> (Option<FaceBox>, FaceSource) {
        // Where the tracked face is expected now: predicted when smoothing, else where it was.
        let expected = match &self.filter {
            Some(filter) => self.last.and(filter.predict(t_ms)),
            None => self.last,
        };
        if let Some(face) = expected
            && self.since_detect + 1 < self.detect_every
        {
            self.since_detect += 1;
            self.last = Some(face);
            return (Some(face), FaceSource::Tracked);
        }
        let near = expected.and_then(|e| largest(&self.detector.detect_near(frame, e)));
        let found = near.or_else(|| largest(&self.detector.detect(frame)));
        match found {
            Some(face) => {
                self.last = Some(match &mut self.filter {
                    Some(filter) => filter.update(t_ms, face),
                    None => face,
                });
            }
            // A miss ends the track: the next face starts a new one.
            None => self.reset(),
        }
        self.since_detect = 0;
        (self.last, FaceSource::Detected)
    }

    /// Forgets the tracked face (e.g. after a frame was dropped).
    pub fn reset(&mut self) {
        self.last = None;
        if let Some(filter) = &mut self.filter {
            filter.reset();
        }
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
    fn detection_is_skipped_while_tracking_and_resumes_after_a_miss() {
        let a = FaceBox::new(1, 1, 30, 30);
        let b = FaceBox::new(5, 5, 30, 30);
        let det = Scripted {
            answers: VecDeque::from([vec![a], vec![], vec![a]]),
            near_answers: VecDeque::from([vec![b], vec![]]),
            ..Scripted::default()
        };
        let mut t = FaceTracker::new(det, 3, false);
        let img = GrayImage::filled(8, 8, 0);
        let got: Vec<_> = (0..8).map(|i| t.locate(&img, i * 33)).collect();
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
        let mut t = FaceTracker::new(det, 0, true);
        let img = GrayImage::filled(8, 8, 0);
        for i in 0..5 {
            t.locate(&img, i * 33);
        }
        assert_eq!(t.detector.calls, 5);
    }

    #[test]
    fn smoothing_filters_detections_predicts_skipped_frames_and_resets_after_a_miss() {
        let a = FaceBox::new(100, 100, 100, 100);
        let b = FaceBox::new(110, 100, 100, 100); // moved 10 px right
        let c = FaceBox::new(112, 101, 100, 100);
        let det = Scripted {
            answers: VecDeque::from([vec![a], vec![], vec![c]]),
            near_answers: VecDeque::from([vec![a], vec![a], vec![a], vec![b], vec![]]),
            ..Scripted::default()
        };
        let mut t = FaceTracker::new(det, 3, true);
        let img = GrayImage::filled(8, 8, 0);
        let got: Vec<_> = (0..17).map(|i| t.locate(&img, i * 100 / 3)).collect();
        use FaceSource::*;
        let sources: Vec<_> = got.iter().map(|g| g.1).collect();
        let mut want = [Detected, Tracked, Tracked].repeat(5);
        want.extend([Detected, Detected]);
        assert_eq!(sources, want);
        let boxes: Vec<_> = got.iter().map(|g| g.0).collect();
        // A still face: exactly its box on every frame, detected or not.
        assert_eq!(boxes[..12], [Some(a); 12]);
        // The move is blended: part of the way to b at once, not all of it.
        let moved = boxes[12].unwrap();
        assert!(a.x < moved.x && moved.x < b.x, "{moved:?}");
        assert_eq!((moved.y, moved.w, moved.h), (100, 100, 100));
        // Skipped frames follow the motion instead of holding the box.
        let (p13, p14) = (boxes[13].unwrap(), boxes[14].unwrap());
        assert!(moved.x <= p13.x && moved.x < p14.x, "{moved:?} {p13:?} {p14:?}");
        // Searched near the predicted box, then a miss everywhere; the next face starts a
        // new track, taken exactly as detected although it is close to the old one.
        assert_eq!(boxes[15], None);
        assert_eq!(boxes[16], Some(c));
        assert_eq!(t.detector.calls, 3);
        assert_eq!(t.detector.near_calls[..4], [a; 4]);
        assert!(t.detector.near_calls[4].x >= p14.x, "{:?}", t.detector.near_calls);
    }
}
