//! `medspace`: a trusted data space node for Chinese healthcare and medical-insurance data.
//!
//! The binary is thin: it parses arguments, opens the node and calls the service layer that the
//! HTTPS API uses too. Errors get context here and exit with status 1 (2 for usage errors).

mod audit_cmd;
mod authz_cmd;
mod cli;
mod commands;
mod deid_cmd;
mod demo;
mod grading_cmd;
mod output;
mod scan_cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    init_logging(args.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn init_logging(verbose: bool) {
    let default = if verbose { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MEDSPACE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
