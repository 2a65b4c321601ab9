//! The `gexlake` command: a thin wrapper over the library.

fn main() -> std::process::ExitCode {
    gexlake::cli::main()
}
