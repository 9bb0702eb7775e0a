//! One module per `host` subcommand.

pub mod arch;
pub mod prepare;
