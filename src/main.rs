use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = routecal::cli::Cli::parse();
    match routecal::cmd::dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", routecal::secrets::scrub(&format!("{e:#}")));
            ExitCode::from(routecal::error::exit_code(&e))
        }
    }
}
