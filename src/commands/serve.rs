//! `rocketload serve`: flags -> server config -> run until Ctrl-C.

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> u8 {
    let _ = args;
    eprintln!("serve: not built yet");
    super::EXIT_BAD_INPUT
}
