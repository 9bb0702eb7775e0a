//! One module per `edge` subcommand.
pub mod detect;
pub mod run;
