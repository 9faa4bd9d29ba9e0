use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = sediment::cli::Cli::parse();
    match sediment::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sediment: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
