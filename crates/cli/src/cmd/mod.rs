//! Command dispatch. Each command turns resolved flags into calls on the library crates.

mod demo;
mod sim;

use crate::flags::{Cli, Command};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    init_logging(cli.verbose);
    match cli.command {
        Command::Sim(a) => sim::run(a).await,
        Command::Demo(a) => demo::run(a).await,
        Command::Version => {
            println!("proxctl {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROXCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
