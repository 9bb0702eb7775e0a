//! One module per `edge` subcommand.
pub mod classify;
pub mod detect;
pub mod run;
pub mod safe_state;
