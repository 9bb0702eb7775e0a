//! One module per `edge` subcommand.
pub mod detect;
