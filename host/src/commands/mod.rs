//! One module per `host` subcommand.

pub mod arch;
