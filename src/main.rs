use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    herald::allocator::limit_arenas();
    let cli = herald::cli::Cli::parse();
    herald::telemetry::init();
    match herald::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("herald: {err:#}");
            ExitCode::FAILURE
        }
    }
}
