//! One module per `edge` subcommand.
