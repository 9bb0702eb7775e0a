//! A source whose read can block for ever (a pipe whose writer stalled but did not close) read
//! on its own thread, so that the loop still takes its turns: a read that brings nothing within
//! the deadline is a [`SourceError::Unavailable`] turn, which the policy counts towards its
//! fault alert, and Ctrl-C still stops the loop. The camera needs no thread (V4L2 reads take a
//! timeout); stdin does.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use super::{Frame, FrameSource, SourceError};

type Item = Result<Option<Frame>, SourceError>;

/// Reads another source on a thread and waits at most `deadline` for each of its frames.
pub struct Deadline {
    frames: Receiver<Item>,
    deadline: Duration,
    description: String,
    ended: bool,
}

/// Whether the source has nothing more to give after this item.
fn is_last(item: &Item) -> bool {
    matches!(item, Ok(None) | Err(SourceError::Fatal(_)))
}

impl Deadline {
    /// Starts reading `source` on a thread named `frame-reader`.
    pub fn spawn<S: FrameSource + Send + 'static>(mut source: S, deadline: Duration) -> std::io::Result<Self> {
        let description = source.describe();
        // A rendezvous: the thread reads (and stamps) at most one frame ahead of the loop.
        let (tx, frames) = mpsc::sync_channel(0);
        thread::Builder::new().name("frame-reader".into()).spawn(move || {
            loop {
                let item = source.next_frame();
                let last = is_last(&item);
                if tx.send(item).is_err() || last {
                    break;
                }
            }
        })?;
        Ok(Deadline {
            frames,
            deadline,
            description,
            ended: false,
        })
    }
}

impl FrameSource for Deadline {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.ended {
            return Ok(None);
        }
        match self.frames.recv_timeout(self.deadline) {
            Ok(item) => {
                self.ended = is_last(&item);
                item
            }
            Err(RecvTimeoutError::Timeout) => Err(SourceError::Unavailable(format!(
                "{}: no frame for {} ms",
                self.description,
                self.deadline.as_millis()
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                Err(SourceError::Fatal(format!(
                    "{}: the reading thread died",
                    self.description
                )))
            }
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::Sender;

    use shared::GrayImage;

    use super::*;

    /// A source that blocks until the test hands it a frame; the end when the test hangs up.
    struct Gate(Receiver<u8>);

    impl FrameSource for Gate {
        fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
            Ok(self.0.recv().ok().map(|v| Frame {
                image: GrayImage::from_raw(2, 1, vec![v, v]).unwrap(),
                timestamp_ms: u64::from(v),
            }))
        }

        fn describe(&self) -> String {
            "gate".into()
        }
    }

    fn gate() -> (Sender<u8>, Deadline) {
        let (tx, rx) = mpsc::channel();
        (tx, Deadline::spawn(Gate(rx), Duration::from_millis(5)).unwrap())
    }

    /// The next item that is not a deadline miss (the reading thread may need more than one).
    fn next_delivered(source: &mut Deadline) -> Item {
        for _ in 0..10_000 {
            match source.next_frame() {
                Err(SourceError::Unavailable(_)) => continue,
                other => return other,
            }
        }
        panic!("nothing delivered in 10,000 deadlines");
    }

    #[test]
    fn a_stalled_source_is_an_unavailable_turn_then_frames_flow_again() {
        let (tx, mut source) = gate();
        match source.next_frame() {
            Err(SourceError::Unavailable(reason)) => assert_eq!(reason, "gate: no frame for 5 ms"),
            other => panic!("expected a deadline miss, got {other:?}"),
        }
        tx.send(7).unwrap();
        let frame = next_delivered(&mut source).unwrap().unwrap();
        assert_eq!((frame.image.pixels(), frame.timestamp_ms), (&[7u8, 7][..], 7));
        assert!(matches!(source.next_frame(), Err(SourceError::Unavailable(_))));
        tx.send(8).unwrap();
        assert_eq!(next_delivered(&mut source).unwrap().unwrap().timestamp_ms, 8);
        assert_eq!(source.describe(), "gate");
    }

    #[test]
    fn the_end_of_the_source_ends_it_for_good() {
        let (tx, mut source) = gate();
        drop(tx);
        assert!(next_delivered(&mut source).unwrap().is_none());
        assert!(source.next_frame().unwrap().is_none());
    }

    #[test]
    fn a_reader_that_dies_is_fatal() {
        struct Dies;
        impl FrameSource for Dies {
            fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
                panic!("reader fault (expected by this test)")
            }
            fn describe(&self) -> String {
                "dies".into()
            }
        }
        let mut source = Deadline::spawn(Dies, Duration::from_millis(5)).unwrap();
        match next_delivered(&mut source) {
            Err(SourceError::Fatal(reason)) => assert_eq!(reason, "dies: the reading thread died"),
            other => panic!("expected a fatal error, got {other:?}"),
        }
        assert!(source.next_frame().unwrap().is_none());
    }

    #[test]
    fn errors_pass_through_and_a_fatal_one_is_the_last() {
        struct Script(Vec<Item>);
        impl FrameSource for Script {
            fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
                self.0.pop().unwrap_or(Ok(None))
            }
            fn describe(&self) -> String {
                "script".into()
            }
        }
        let script = Script(vec![
            Err(SourceError::BadFrame {
                index: 9,
                reason: "never read".into(),
            }),
            Err(SourceError::Fatal("gone".into())),
            Err(SourceError::BadFrame {
                index: 0,
                reason: "cut".into(),
            }),
        ]);
        let mut source = Deadline::spawn(script, Duration::from_millis(5)).unwrap();
        assert!(matches!(
            next_delivered(&mut source),
            Err(SourceError::BadFrame { index: 0, .. })
        ));
        assert!(matches!(next_delivered(&mut source), Err(SourceError::Fatal(_))));
        assert!(source.next_frame().unwrap().is_none());
    }
}
