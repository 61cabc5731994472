use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = routecal::cli::Cli::parse();
    match routecal::cmd::dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Not eprintln!: a closed stderr must not turn an error into a panic.
            let _ = writeln!(
                std::io::stderr(),
                "error: {}",
                routecal::base::secrets::scrub(&format!("{e:#}"))
            );
            ExitCode::from(routecal::base::error::exit_code(&e))
        }
    }
}
