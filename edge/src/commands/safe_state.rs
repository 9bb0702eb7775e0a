//! `edge safe-state`: drives the buzzer and LED pins low and exits.
//!
//! The alert loop drives its pins low on every exit it lives through (end, Ctrl-C, SIGTERM,
//! an error), but not when it is killed: the systemd watchdog's SIGABRT, an OOM kill or a
//! crash leave the GPIO lines as they were, possibly with the buzzer on. The unit runs this
//! command as `ExecStopPost=`, after every stop of the service however it ended.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::config::EdgeConfig;

/// Arguments of `edge safe-state`.
#[derive(Debug, Args)]
pub struct SafeStateArgs {
    /// Config file naming the pins (`[outputs.gpio]`); without it, or without that table,
    /// there are no pins to set.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Sets the configured buzzer and LED lines low.
pub fn run(args: &SafeStateArgs) -> Result<()> {
    let config = EdgeConfig::load_or_default(args.config.as_deref())?;
    let Some(gpio) = &config.outputs.gpio else {
        tracing::info!("no [outputs.gpio] configured: no pins to set");
        return Ok(());
    };
    // Taking the pins drives them low; dropping the indicator drives them low again.
    drop(super::run::gpio::indicator(gpio, 0)?);
    tracing::info!(chip = %gpio.chip.display(), buzzer = gpio.buzzer_line, led = gpio.led_line, "buzzer and LED pins low");
    Ok(())
}
