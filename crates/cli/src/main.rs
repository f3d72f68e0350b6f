//! The `proxctl` binary: `main` → `run` → exit code. Errors print as a chain, and the exit code
//! says who failed: 1 user error, 2 system error, 3 Proxmox API error.

mod cmd;
mod exit;
mod flags;
mod profile;
mod settings;
mod wizard;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Usage errors are user errors (exit 1), not clap's default 2, which means "system" here.
    let cli = match flags::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USER } else { 0 });
        }
    };
    // One worker per core (tokio's default): `proxctl sim` and long applies scale with the
    // machine; a short command only starts threads it barely uses.
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(cmd::run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if exit::is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            if let Some(exit::ExitWith(code)) = e.downcast_ref::<exit::ExitWith>() {
                return ExitCode::from(*code);
            }
            eprintln!("{}", exit::render_chain(&e));
            ExitCode::from(exit::code_for(&e))
        }
    }
}
