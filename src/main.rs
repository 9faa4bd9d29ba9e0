use clap::Parser as _;

// glibc's malloc took a quarter of the CPU of a TSBS ingest (many small,
// short-lived strings across two worker threads); mimalloc's thread-local
// free lists make the same work several times cheaper. Built without its
// transparent-huge-page advice (`no_thp`): after mimalloc returns memory to
// the OS, the next touch faulted in and zeroed a whole 2 MiB page, which was
// a fifth of the CPU of a TSBS load; without it ingest ran 10-15% faster.
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
