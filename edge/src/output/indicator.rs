//! The in-car buzzer and warning LED, as two embedded-hal 1.0 [`OutputPin`]s so the same code
//! drives Linux GPIO (feature `gpio`), a microcontroller's pins, or mock pins in tests.
//!
//! The LED is lit while any alert is active. The buzzer sounds for a fixed time when an
//! alert is raised: long enough to notice, short enough not to become noise the driver
//! learns to ignore. Pins are only written on a change.

use embedded_hal::digital::OutputPin;
use shared::wire::{AlertEvent, AlertPhase};

use super::{OutputError, Sink};

/// A buzzer and an LED.
pub struct Indicator<B, L> {
    buzzer: B,
    led: L,
    buzz_ms: u64,
    buzz_until: Option<u64>,
    led_on: bool,
}

fn pin_err(pin: &'static str, e: impl core::fmt::Debug) -> OutputError {
    OutputError::Pin {
        sink: "indicator",
        pin,
        reason: format!("{e:?}"),
    }
}

impl<B: OutputPin, L: OutputPin> Indicator<B, L> {
    /// Takes the pins and drives both low (off), so the outputs start in a known state.
    pub fn new(mut buzzer: B, mut led: L, buzz_ms: u64) -> Result<Self, OutputError> {
        buzzer.set_low().map_err(|e| pin_err("buzzer", e))?;
        led.set_low().map_err(|e| pin_err("led", e))?;
        Ok(Indicator {
            buzzer,
            led,
            buzz_ms,
            buzz_until: None,
            led_on: false,
        })
    }

    /// Gives the pins back.
    pub fn release(self) -> (B, L) {
        (self.buzzer, self.led)
    }
}

impl<B: OutputPin, L: OutputPin> Sink for Indicator<B, L> {
    fn alert(&mut self, event: &AlertEvent, active_mask: u8) -> Result<(), OutputError> {
        // Both pins are attempted even if one fails; the first error is reported.
        let mut result = Ok(());
        if event.phase == AlertPhase::Raised && self.buzz_ms > 0 {
            // The off time is set first, so a buzzer that failed to switch on is still
            // switched off (its state is unknown after an error).
            let buzzing = self
                .buzz_until
                .replace(event.timestamp_ms.saturating_add(self.buzz_ms))
                .is_some();
            if !buzzing {
                result = self.buzzer.set_high().map_err(|e| pin_err("buzzer", e));
            }
        }
        let want = active_mask != 0;
        if want != self.led_on {
            let set = if want { self.led.set_high() } else { self.led.set_low() };
            match set {
                Ok(()) => self.led_on = want,
                Err(e) => result = result.and(Err(pin_err("led", e))),
            }
        }
        result
    }

    fn tick(&mut self, t_ms: u64) -> Result<(), OutputError> {
        if self.buzz_until.is_some_and(|until| t_ms >= until) {
            self.buzz_until = None;
            self.buzzer.set_low().map_err(|e| pin_err("buzzer", e))?;
        }
        Ok(())
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
        indicator.tick(u64::MAX - 1).unwrap();
        let (mut buzzer, mut led) = indicator.release();
        buzzer.done();
        led.done();
    }
}
