//! A sink whose device can block for ever, run on its own thread: stdout into a pipe whose
//! reader stopped reading without closing it (a suspended `| jq`), or a journal that stalled.
//! A blocking write there would freeze the whole loop, the buzzer, the LED and the serial
//! line with it; on its own thread it cannot, and the stall becomes the `outputs` fault the
//! other sinks report. The sink's own rules (JSON lines kept and retried) act unchanged on
//! the thread; this puts a bounded queue in front of it and a deadline on each call.
//!
//! Rules: calls reach the sink in order. An alert that finds the queue full is dropped,
//! counted and reported as [`OutputError::Stalled`]. Heartbeats and ticks wait at most one of
//! each: a newer one replaces the one waiting, so the sink gets the newest turn and a blocked
//! sink's queue holds alerts, not turns; one that finds the queue full is skipped (another
//! comes with the next turn). The sink is unhealthy while a call has run
//! longer than the deadline, after it reported itself unhealthy, and once its thread has
//! ended. Errors the sink returns on its thread are handed to the loop on its next calls, so
//! the loop counts and logs them as it does for any sink; a thread that ended (the sink
//! panicked) is an error on every alert and on the first periodic call.

use std::collections::VecDeque;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use shared::wire::{AlertEvent, Heartbeat};

use super::{OutputError, Sink, Tick};

/// Calls that may wait for the thread; beyond them alerts are dropped.
pub const QUEUE_CALLS: usize = 256;

/// Errors kept for the loop while it has not yet collected them; beyond them the oldest go.
const KEPT_ERRORS: usize = 64;

/// How long dropping the sink waits for the thread to finish the calls queued before it.
const DROP_WAIT: Duration = Duration::from_secs(1);

/// What became of a call handed to the thread.
enum Sent {
    Queued,
    /// The queue is full: the thread is blocked.
    Full,
    /// The thread has ended.
    Stopped,
}

/// A call for the thread; the periodic ones take their argument from [`State`]'s slots.
enum Call {
    Alert(AlertEvent, u8),
    Heartbeat,
    Tick,
}

/// What the thread and the loop share.
#[derive(Default)]
struct State {
    /// When the call now running started; `None` while the thread waits for one.
    busy_since: Option<Instant>,
    /// The sink's own health after its last call.
    healthy: bool,
    /// Errors returned on the thread, oldest first, not yet handed to the loop.
    errors: VecDeque<OutputError>,
    /// The newest tick not yet delivered; `Some` while a [`Call::Tick`] is queued for it.
    tick: Option<Tick>,
    /// The newest heartbeat not yet delivered; `Some` while a [`Call::Heartbeat`] is queued.
    heartbeat: Option<Heartbeat>,
}

/// Locks the shared state. Neither side holds the lock across a call into the sink, only to
/// copy plain values, so a poisoned lock still holds consistent values.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs a [`Sink`] on a thread of its own (see the module docs).
pub struct Detached {
    name: &'static str,
    calls: Option<SyncSender<Call>>,
    state: Arc<Mutex<State>>,
    /// `Some` until the sink is dropped; finished once the thread has ended (a panic included).
    thread: Option<JoinHandle<()>>,
    deadline: Duration,
    /// Alerts dropped because the queue was full.
    dropped: u64,
    /// Whether a periodic call has reported the thread's end.
    stop_reported: bool,
}

impl Detached {
    /// Starts `sink` on a thread named `output-NAME`; a call that runs longer than `deadline`
    /// makes the sink unhealthy until it returns.
    pub fn spawn<S: Sink + Send + 'static>(name: &'static str, sink: S, deadline: Duration) -> std::io::Result<Self> {
        Self::with_queue(name, sink, deadline, QUEUE_CALLS)
    }

    fn with_queue<S: Sink + Send + 'static>(
        name: &'static str,
        mut sink: S,
        deadline: Duration,
        queue: usize,
    ) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State {
            healthy: true,
            ..State::default()
        }));
        let (calls, queued) = mpsc::sync_channel::<Call>(queue);
        let shared = Arc::clone(&state);
        let thread = thread::Builder::new().name(format!("output-{name}")).spawn(move || {
            for call in queued {
                let (tick, heartbeat) = {
                    let mut state = lock(&shared);
                    state.busy_since = Some(Instant::now());
                    match call {
                        Call::Tick => (state.tick.take(), None),
                        Call::Heartbeat => (None, state.heartbeat.take()),
                        Call::Alert(..) => (None, None),
                    }
                };
                let result = match call {
                    Call::Alert(event, mask) => sink.alert(&event, mask),
                    Call::Tick => tick.map_or(Ok(()), |tick| sink.tick(&tick)),
                    Call::Heartbeat => heartbeat.map_or(Ok(()), |heartbeat| sink.heartbeat(&heartbeat)),
                };
                let healthy = sink.healthy();
                let mut state = lock(&shared);
                state.busy_since = None;
                state.healthy = healthy;
                if let Err(e) = result {
                    if state.errors.len() == KEPT_ERRORS {
                        state.errors.pop_front();
                    }
                    state.errors.push_back(e);
                }
            }
        })?;
        Ok(Detached {
            name,
            calls: Some(calls),
            state,
            thread: Some(thread),
            deadline,
            dropped: 0,
            stop_reported: false,
        })
    }

    /// Whether the thread has ended: the sink panicked, or it is being dropped.
    fn ended(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Queues `call`.
    fn send(&self, call: Call) -> Sent {
        match self.calls.as_ref().map(|calls| calls.try_send(call)) {
            Some(Ok(())) => Sent::Queued,
            Some(Err(TrySendError::Full(_))) => Sent::Full,
            Some(Err(TrySendError::Disconnected(_))) | None => Sent::Stopped,
        }
    }

    /// A periodic call (heartbeat, tick): `value` goes into its `slot`; when an earlier value
    /// still waits there, the call already queued for it delivers this one instead (unless the
    /// thread has ended: its queue is gone with it). Skipped when the queue is full (the slot is
    /// emptied, so that a later turn queues a call again); a stopped thread is reported on the
    /// first such call only, so that it is not logged on every turn (the sink stays unhealthy,
    /// and every alert that cannot reach it is still an error).
    fn send_periodic<T>(
        &mut self,
        value: T,
        slot: fn(&mut State) -> &mut Option<T>,
        call: Call,
    ) -> Result<(), OutputError> {
        let waiting = slot(&mut lock(&self.state)).replace(value).is_some();
        if waiting && !self.ended() {
            return self.collect();
        }
        let sent = self.send(call);
        if !matches!(sent, Sent::Queued) {
            *slot(&mut lock(&self.state)) = None;
        }
        match sent {
            Sent::Queued => self.collect(),
            Sent::Full => Ok(()),
            Sent::Stopped if std::mem::replace(&mut self.stop_reported, true) => Ok(()),
            Sent::Stopped => Err(OutputError::Stopped { sink: self.name }),
        }
    }

    /// The oldest error the thread has not handed over yet.
    fn collect(&self) -> Result<(), OutputError> {
        match lock(&self.state).errors.pop_front() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Sink for Detached {
    fn alert(&mut self, event: &AlertEvent, active_mask: u8) -> Result<(), OutputError> {
        match self.send(Call::Alert(event.clone(), active_mask)) {
            Sent::Queued => self.collect(),
            Sent::Full => {
                self.dropped += 1;
                Err(OutputError::Stalled {
                    sink: self.name,
                    dropped: self.dropped,
                })
            }
            Sent::Stopped => Err(OutputError::Stopped { sink: self.name }),
        }
    }

    fn heartbeat(&mut self, heartbeat: &Heartbeat) -> Result<(), OutputError> {
        self.send_periodic(heartbeat.clone(), |state| &mut state.heartbeat, Call::Heartbeat)
    }

    fn tick(&mut self, tick: &Tick) -> Result<(), OutputError> {
        self.send_periodic(*tick, |state| &mut state.tick, Call::Tick)
    }

    fn healthy(&self) -> bool {
        if self.ended() {
            return false;
        }
        let state = lock(&self.state);
        state.healthy && state.busy_since.is_none_or(|t| t.elapsed() <= self.deadline)
    }
}

impl Drop for Detached {
    /// Lets the thread finish the calls queued so far (the sink then drops on it), waiting at
    /// most `DROP_WAIT` (1 s): a device blocked for good must not hold up the exit.
    fn drop(&mut self) {
        drop(self.calls.take());
        let waited = Instant::now();
        while !self.ended() {
            if waited.elapsed() > DROP_WAIT {
                tracing::warn!(
                    sink = self.name,
                    "output still blocked at exit: the calls queued for it are lost"
                );
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(sink = self.name, "output thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Write};
    use std::sync::Condvar;

    use super::*;
    use crate::output::JsonLines;
    use crate::output::testing::{Line, alert, stamps};
    use crate::source::retry::Backoff;

    const DEADLINE: Duration = Duration::from_millis(20);

    fn backoff() -> Backoff {
        Backoff::new(Duration::from_millis(10), Duration::from_millis(10))
    }

    fn tick(t_ms: u64) -> Tick {
        Tick {
            t_ms,
            decided: true,
            active_mask: 0,
        }
    }

    /// Polls `done` until it holds; fails after 10 s.
    fn wait_for(sink: &mut Detached, mut done: impl FnMut(&mut Detached) -> bool) {
        let start = Instant::now();
        while !done(sink) {
            assert!(start.elapsed() < Duration::from_secs(10), "condition never held");
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// [`wait_for`], with a loop turn at `t_ms` before each poll.
    fn turns_until(sink: &mut Detached, t_ms: u64, mut done: impl FnMut(&Detached) -> bool) {
        wait_for(sink, |s| {
            let _ = s.tick(&tick(t_ms));
            done(s)
        });
    }

    /// A writer that blocks while its gate is closed, like a pipe whose reader stopped.
    #[derive(Clone, Default)]
    struct Gate {
        closed: Arc<(Mutex<bool>, Condvar)>,
        bytes: Arc<Mutex<Vec<u8>>>,
    }

    impl Gate {
        fn set(&self, closed: bool) {
            *self.closed.0.lock().unwrap() = closed;
            self.closed.1.notify_all();
        }
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, open) = &*self.closed;
            drop(open.wait_while(lock.lock().unwrap(), |closed| *closed).unwrap());
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_writer_does_not_block_the_loop_and_turns_the_sink_unhealthy_until_it_moves() {
        let gate = Gate::default();
        gate.set(true);
        let json = JsonLines::new(gate.clone(), backoff());
        let mut sink = Detached::with_queue("json", json, DEADLINE, 3).unwrap();
        // The first alert blocks the thread; the loop's turns go on and queue one tick between
        // them; two more alerts wait in the queue; the fourth is dropped.
        sink.alert(&alert(1), 0).unwrap();
        wait_for(&mut sink, |s| !s.healthy());
        for t in 2..200 {
            sink.tick(&tick(t)).unwrap();
        }
        sink.alert(&alert(2), 0).unwrap();
        sink.alert(&alert(3), 0).unwrap();
        let started = Instant::now();
        let dropped = sink.alert(&alert(4), 0);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the loop waited for the writer"
        );
        assert!(matches!(
            dropped,
            Err(OutputError::Stalled {
                sink: "json",
                dropped: 1
            })
        ));
        assert!(!sink.healthy());
        // The reader reads again: everything queued is written, in order, and the sink recovers.
        gate.set(false);
        turns_until(&mut sink, 5, |s| {
            s.healthy() && stamps(&gate.bytes.lock().unwrap()).len() == 3
        });
        sink.alert(&alert(5), 0).unwrap();
        drop(sink);
        assert_eq!(stamps(&gate.bytes.lock().unwrap()), [1, 2, 3, 5]);
    }

    #[test]
    fn errors_and_health_of_the_sink_on_the_thread_reach_the_loop() {
        let line = Line::default();
        *line.down.lock().unwrap() = true;
        let json = JsonLines::new(line.clone(), backoff());
        let mut sink = Detached::spawn("json", json, DEADLINE).unwrap();
        let first = sink.alert(&alert(1), 0);
        // The failed write makes the sink unhealthy, and its error comes back once: on the
        // alert's own call when the thread wrote before that call returned, else on the next.
        wait_for(&mut sink, |s| !s.healthy());
        let second = sink.tick(&tick(2));
        assert!(
            matches!(
                (&first, &second),
                (Err(OutputError::Io { sink: "json", .. }), Ok(()))
                    | (Ok(()), Err(OutputError::Io { sink: "json", .. }))
            ),
            "{first:?} then {second:?}"
        );
        assert!(sink.tick(&tick(3)).is_ok());
        // The line is plugged in again: the JSON sink's retry writes the kept line.
        *line.down.lock().unwrap() = false;
        turns_until(&mut sink, 1000, |s| s.healthy());
        drop(sink);
        assert_eq!(stamps(&line.bytes.lock().unwrap()), [1]);
    }

    #[test]
    fn dropping_a_sink_blocked_for_good_returns_and_a_sink_that_panicked_is_unhealthy() {
        let gate = Gate::default();
        gate.set(true);
        let mut sink = Detached::spawn("json", JsonLines::new(gate.clone(), backoff()), DEADLINE).unwrap();
        sink.alert(&alert(1), 0).unwrap();
        let started = Instant::now();
        drop(sink);
        assert!(started.elapsed() < DROP_WAIT + Duration::from_secs(5));
        gate.set(false);

        struct Panics;
        impl Sink for Panics {
            fn alert(&mut self, _: &AlertEvent, _: u8) -> Result<(), OutputError> {
                panic!("a sink's bug");
            }
        }
        let mut sink = Detached::spawn("panics", Panics, DEADLINE).unwrap();
        sink.alert(&alert(1), 0).unwrap();
        wait_for(&mut sink, |s| !s.healthy());
        // Reported once by the turns, not on every one; every alert it misses is an error.
        wait_for(&mut sink, |s| {
            matches!(s.tick(&tick(2)), Err(OutputError::Stopped { sink: "panics" }))
        });
        assert!(sink.tick(&tick(3)).is_ok());
        assert!(matches!(
            sink.alert(&alert(4), 0),
            Err(OutputError::Stopped { sink: "panics" })
        ));
        assert!(!sink.healthy());
    }
}
