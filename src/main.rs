//! The `gexlake` command: a thin wrapper over the library.

/// mimalloc instead of the system allocator: DataFusion's plans allocate and free
/// many short-lived buffers, and glibc's malloc spent ~10 % of a metrics run
/// (benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gexlake::cli::main()
}
