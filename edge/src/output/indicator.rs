//! The in-car buzzer and warning LED, as two embedded-hal 1.0 [`OutputPin`]s so the same code
//! drives Linux GPIO (feature `gpio`), a microcontroller's pins, or mock pins in tests.
//!
//! What the driver sees and hears:
//! - an emotion or face-lost alert raised: one buzz of `buzz_ms`; the LED lit steadily while
//!   any such alert is active;
//! - the fault alert (the monitor is not watching): [`FAULT_BEEPS`] short beeps (each and
//!   each gap at least [`FAULT_BEEP_MS`], longer when the loop turns slowly), and the LED
//!   blinking every [`BLINK_MS`] for as long as the fault lasts, so it cannot be mistaken
//!   for an emotion alert.
//!
//! Pins follow the loop's clock: they are set at alerts and at every turn of the loop (with
//! or without a frame), only on a change. A pin whose write failed counts as possibly on, so
//! switching it off is retried on every turn until it works. Dropping the indicator (every
//! exit of the program, a panic's unwinding) drives both pins low.

use embedded_hal::digital::OutputPin;
use shared::wire::{AlertEvent, AlertKind, AlertPhase};

use super::{OutputError, Sink, Tick};

/// Beeps at a raised fault.
pub const FAULT_BEEPS: u64 = 3;
/// Shortest fault beep and gap after it, ms.
pub const FAULT_BEEP_MS: u64 = 150;
/// The LED's on and off time while the fault is active, ms.
pub const BLINK_MS: u64 = 250;

/// The buzzer's current pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Buzz {
    /// On until this time.
    Until(u64),
    /// Fault beeps: switches left (on while odd) and the time of the last switch. Counted
    /// in switches, not read off the clock, so all beeps sound even when the loop turns
    /// slowly (a camera that times out), each at least [`FAULT_BEEP_MS`].
    Beeps {
        /// Switches still to make.
        left: u64,
        /// When the buzzer last switched.
        at: u64,
    },
}

impl Buzz {
    fn beeps(t: u64) -> Self {
        Buzz::Beeps {
            left: 2 * FAULT_BEEPS - 1,
            at: t,
        }
    }

    /// Advances to `t`: whether the buzzer should sound, or `None` once the pattern is over.
    fn at(&mut self, t: u64) -> Option<bool> {
        match self {
            Buzz::Until(until) => (t < *until).then_some(true),
            Buzz::Beeps { left, at } => {
                if *left > 0 && t.saturating_sub(*at) >= FAULT_BEEP_MS {
                    *left -= 1;
                    *at = t;
                }
                (*left > 0).then_some(*left % 2 == 1)
            }
        }
    }
}

/// A buzzer and an LED.
pub struct Indicator<B: OutputPin, L: OutputPin> {
    /// `None` once given back by [`Indicator::release`].
    pins: Option<(B, L)>,
    buzz_ms: u64,
    buzz: Option<Buzz>,
    active_mask: u8,
    buzzer_on: bool,
    led_on: bool,
    /// Whether the last write to each pin (buzzer, LED) failed.
    failing: [bool; 2],
}

fn pin_err(pin: &'static str, e: impl embedded_hal::digital::Error) -> OutputError {
    OutputError::Pin {
        sink: "indicator",
        pin,
        kind: e.kind(),
        detail: format!("{e:?}"),
    }
}

/// Drives `pin` to `want` if `state` differs, recording the outcome in `failing`; a failed
/// write leaves `state` "on".
fn drive(
    pin: &mut impl OutputPin,
    name: &'static str,
    state: &mut bool,
    failing: &mut bool,
    want: bool,
) -> Result<(), OutputError> {
    if *state == want {
        return Ok(());
    }
    let set = if want { pin.set_high() } else { pin.set_low() };
    *failing = set.is_err();
    match set {
        Ok(()) => {
            *state = want;
            Ok(())
        }
        Err(e) => {
            *state = true;
            Err(pin_err(name, e))
        }
    }
}

impl<B: OutputPin, L: OutputPin> Indicator<B, L> {
    /// Takes the pins and drives both low (off), so the outputs start in a known state.
    pub fn new(mut buzzer: B, mut led: L, buzz_ms: u64) -> Result<Self, OutputError> {
        buzzer.set_low().map_err(|e| pin_err("buzzer", e))?;
        led.set_low().map_err(|e| pin_err("led", e))?;
        Ok(Indicator {
            pins: Some((buzzer, led)),
            buzz_ms,
            buzz: None,
            active_mask: 0,
            buzzer_on: false,
            led_on: false,
            failing: [false; 2],
        })
    }

    /// Gives the pins back as they are (without driving them low).
    pub fn release(mut self) -> (B, L) {
        self.pins.take().expect("pins are only taken here")
    }

    /// Sets both pins to what the pattern and the active alerts want at `t`; both are
    /// attempted even if one fails, the first error is returned.
    fn apply(&mut self, t: u64) -> Result<(), OutputError> {
        let want_buzzer = match self.buzz.as_mut().and_then(|b| b.at(t)) {
            Some(on) => on,
            None => {
                self.buzz = None;
                false
            }
        };
        let want_led = if self.active_mask & AlertKind::Fault.bit() != 0 {
            (t / BLINK_MS).is_multiple_of(2)
        } else {
            self.active_mask != 0
        };
        let (buzzer, led) = self.pins.as_mut().expect("pins are held until release");
        let [buzzer_failing, led_failing] = &mut self.failing;
        let b = drive(buzzer, "buzzer", &mut self.buzzer_on, buzzer_failing, want_buzzer);
        let l = drive(led, "led", &mut self.led_on, led_failing, want_led);
        b.and(l)
    }
}

impl<B: OutputPin, L: OutputPin> Drop for Indicator<B, L> {
    fn drop(&mut self) {
        if let Some((buzzer, led)) = self.pins.as_mut() {
            // Best effort: nothing is left to report a failure to.
            let _ = buzzer.set_low();
            let _ = led.set_low();
        }
    }
}

impl<B: OutputPin, L: OutputPin> Sink for Indicator<B, L> {
    fn alert(&mut self, event: &AlertEvent, active_mask: u8) -> Result<(), OutputError> {
        self.active_mask = active_mask;
        let t = event.timestamp_ms;
        match (event.kind, event.phase) {
            (AlertKind::Fault, AlertPhase::Raised) => self.buzz = Some(Buzz::beeps(t)),
            (AlertKind::Fault, AlertPhase::Cleared) => {
                if matches!(self.buzz, Some(Buzz::Beeps { .. })) {
                    self.buzz = None;
                }
            }
            (_, AlertPhase::Raised) if self.buzz_ms > 0 => {
                self.buzz = Some(Buzz::Until(t.saturating_add(self.buzz_ms)));
            }
            _ => {}
        }
        self.apply(t)
    }

    fn tick(&mut self, tick: &Tick) -> Result<(), OutputError> {
        self.active_mask = tick.active_mask;
        self.apply(tick.t_ms)
    }

    fn healthy(&self) -> bool {
        self.failing == [false; 2]
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};
    use shared::wire::{AlertKind, EmotionScores};

    use super::*;

    /// A raise late in a long drive with the longest buzzer time still switches the buzzer
    /// on and, when its time comes, off: no overflow of the off time.
    #[test]
    fn the_buzzer_off_time_saturates_instead_of_overflowing() {
        let (low, high) = (Transaction::set(State::Low), Transaction::set(State::High));
        let buzzer = PinMock::new(&[low.clone(), high.clone()]);
        let led = PinMock::new(&[low.clone(), high]);
        let mut indicator = Indicator::new(buzzer, led, u64::MAX).unwrap();
        let raise = AlertEvent {
            timestamp_ms: u64::MAX - 10,
            kind: AlertKind::Anger,
            phase: AlertPhase::Raised,
            scores: EmotionScores::default(),
            face: None,
        };
        indicator.alert(&raise, 1).unwrap();
        indicator
            .tick(&Tick {
                t_ms: u64::MAX - 1,
                decided: true,
                active_mask: 1,
            })
            .unwrap();
        let (mut buzzer, mut led) = indicator.release();
        buzzer.done();
        led.done();
    }

    /// A pin the HAL refuses is named with embedded-hal's error kind, and nothing is hidden.
    #[test]
    fn a_refused_pin_is_reported_with_its_kind() {
        use embedded_hal::digital::ErrorKind;
        use embedded_hal_mock::eh1::MockError;

        let refused = Transaction::set(State::Low).with_error(MockError::Io(std::io::ErrorKind::NotConnected));
        let mut buzzer = PinMock::new(&[refused]);
        let mut led = PinMock::new(&[]);
        let e = Indicator::new(buzzer.clone(), led.clone(), 100)
            .err()
            .expect("a refused pin is an error");
        assert!(
            matches!(
                e,
                OutputError::Pin {
                    sink: "indicator",
                    pin: "buzzer",
                    kind: ErrorKind::Other,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().starts_with("indicator: pin buzzer: "), "{e}");
        buzzer.done();
        led.done();
    }
}
