use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    if let Err(e) = color_eyre::install() {
        eprintln!("canton-dr: cannot install the error reporter: {e}");
    }
    let cli = canton_dr::cli::Cli::parse();
    match canton_dr::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("canton-dr: {e:?}");
            ExitCode::from(canton_dr::cli::exit::USAGE)
        }
    }
}
