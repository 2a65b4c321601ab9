//! The `gexlake` command: a thin wrapper over the library.

/// mimalloc instead of the system allocator: DataFusion's plans allocate and free
/// many short-lived buffers; in a profile of a one-day metrics run glibc's malloc
/// and free took ~10 % of the samples, and with mimalloc the run was ~3 % faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gexlake::cli::main()
}
