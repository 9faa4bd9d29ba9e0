use clap::Parser as _;

// glibc's malloc took a quarter of the CPU of a TSBS ingest (many small,
// short-lived strings across two worker threads); mimalloc's thread-local
// free lists make the same work several times cheaper.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
