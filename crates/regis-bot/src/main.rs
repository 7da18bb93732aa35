//! The `regis` binary: configuration, command line and wiring.

#[cfg(feature = "bench-commands")]
mod bench_plugin;
mod cli;
mod commands_sync;
mod config;
mod hooks;
mod logging;
mod mandala_cmd;
mod readiness;
mod run;
mod secrets;
mod serve;

use anyhow::Result;
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("regis: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result: Result<()> = runtime.block_on(cli::run(cli));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("regis: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
