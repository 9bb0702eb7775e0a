//! Keeps a flaky device source alive: when the camera errors or vanishes (USB unplugged,
//! driver reset), it is closed and reopened with exponential back-off, and the loop carries
//! on instead of exiting — a driver monitor that silently stops is worse than one that
//! reports a gap.

use std::time::Duration;

use super::{Frame, FrameSource, SourceError};

/// Exponential back-off: `initial`, doubled after each failure, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First wait.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
    current: Duration,
}

impl Backoff {
    /// A back-off starting at `initial` and capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            current: initial,
        }
    }

    /// The next wait (then doubles the one after).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(self.max);
        d
    }

    /// Back to `initial` after a success.
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

/// Opens a source.
pub type Opener<S> = Box<dyn FnMut() -> Result<S, SourceError> + Send>;
/// Waits (a thread sleep in production, a recorder in tests).
pub type Sleeper = Box<dyn FnMut(Duration) + Send>;

/// A source that reopens its inner source after device errors.
///
/// Bad frames pass through. A device error, a fatal inner error or an ended inner stream
/// closes the inner source; the next call waits the back-off delay and reopens it. Each
/// failed attempt is returned as [`SourceError::Unavailable`], so the loop logs it and keeps
/// asking; this source itself never ends.
pub struct Reconnecting<S> {
    open: Opener<S>,
    sleep: Sleeper,
    backoff: Backoff,
    inner: Option<S>,
    name: String,
    reconnects: u64,
    failing: bool,
}

impl<S: FrameSource> Reconnecting<S> {
    /// Wraps a source opener; `name` is used in messages.
    pub fn new(name: impl Into<String>, open: Opener<S>, backoff: Backoff, sleep: Sleeper) -> Self {
        Reconnecting {
            open,
            sleep,
            backoff,
            inner: None,
            name: name.into(),
            reconnects: 0,
            failing: false,
        }
    }

    /// How many times the inner source was (re)opened successfully after a failure.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    fn fail(&mut self, reason: String) -> SourceError {
        self.inner = None;
        self.failing = true;
        let delay = self.backoff.next_delay();
        tracing::warn!(source = %self.name, %reason, retry_in_ms = delay.as_millis() as u64, "frame source unavailable");
        (self.sleep)(delay);
        SourceError::Unavailable(format!("{}: {reason}", self.name))
    }
}

impl<S: FrameSource> FrameSource for Reconnecting<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.inner.is_none() {
            match (self.open)() {
                Ok(s) => {
                    tracing::info!(source = %s.describe(), "frame source opened");
                    if std::mem::take(&mut self.failing) {
                        self.reconnects += 1;
                    }
                    self.inner = Some(s);
                }
                Err(e) => return Err(self.fail(format!("open: {e}"))),
            }
        }
        let inner = self.inner.as_mut().expect("opened above");
        match inner.next_frame() {
            Ok(Some(frame)) => {
                self.backoff.reset();
                Ok(Some(frame))
            }
            Err(e @ SourceError::BadFrame { .. }) => Err(e),
            Ok(None) => Err(self.fail("stream ended".into())),
            Err(e) => Err(self.fail(e.to_string())),
        }
    }

    fn describe(&self) -> String {
        format!("{} (reconnecting)", self.name)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use shared::GrayImage;

    use super::*;

    /// A device whose reads follow a script.
    struct Scripted(VecDeque<Result<Option<Frame>, SourceError>>);

    impl FrameSource for Scripted {
        fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
            self.0.pop_front().unwrap_or(Ok(None))
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    fn frame(t: u64) -> Result<Option<Frame>, SourceError> {
        Ok(Some(Frame {
            image: GrayImage::filled(2, 2, 0),
            timestamp_ms: t,
        }))
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let d: Vec<u64> = (0..5).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(d, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn a_vanishing_camera_is_reopened_with_backoff() {
        // Open #1 works and yields one frame then errors; opens #2 and #3 fail; open #4
        // works again.
        let opens = Arc::new(Mutex::new(0));
        let o = opens.clone();
        let open: Opener<Scripted> = Box::new(move || {
            let mut n = o.lock().unwrap();
            *n += 1;
            match *n {
                1 => Ok(Scripted(VecDeque::from([
                    frame(1),
                    Err(SourceError::Unavailable("ENODEV".into())),
                ]))),
                2 | 3 => Err(SourceError::Unavailable("no such device".into())),
                _ => Ok(Scripted(VecDeque::from([frame(9), frame(10)]))),
            }
        });
        let slept = Arc::new(Mutex::new(Vec::new()));
        let s = slept.clone();
        let sleep: Sleeper = Box::new(move |d| s.lock().unwrap().push(d.as_millis() as u64));
        let backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        let mut cam = Reconnecting::new("cam", open, backoff, sleep);

        assert_eq!(cam.next_frame().unwrap().unwrap().timestamp_ms, 1);
        for _ in 0..3 {
            assert!(matches!(cam.next_frame(), Err(SourceError::Unavailable(_))));
        }
        assert_eq!(cam.next_frame().unwrap().unwrap().timestamp_ms, 9);
        assert_eq!(cam.next_frame().unwrap().unwrap().timestamp_ms, 10);
        assert_eq!(*slept.lock().unwrap(), [50, 100, 200]);
        assert_eq!(*opens.lock().unwrap(), 4);
        assert_eq!(cam.reconnects(), 1);
        // Its stream ending is a device failure too: the back-off restarts from 50.
        assert!(matches!(cam.next_frame(), Err(SourceError::Unavailable(_))));
        assert_eq!(slept.lock().unwrap().last(), Some(&50));
    }

    #[test]
    fn bad_frames_pass_through_without_reopening() {
        let open: Opener<Scripted> = Box::new(|| {
            Ok(Scripted(VecDeque::from([
                Err(SourceError::BadFrame {
                    index: 0,
                    reason: "crc".into(),
                }),
                frame(2),
            ])))
        });
        let mut cam = Reconnecting::new(
            "cam",
            open,
            Backoff::new(Duration::ZERO, Duration::ZERO),
            Box::new(|_| {}),
        );
        assert!(matches!(cam.next_frame(), Err(SourceError::BadFrame { .. })));
        assert_eq!(cam.next_frame().unwrap().unwrap().timestamp_ms, 2);
    }
}
