//! The `gexlake` command: a thin wrapper over the library.

/// mimalloc instead of the system allocator: DataFusion's plans allocate and free
/// many short-lived buffers; in a profile of a one-day metrics run glibc's malloc
/// and free took ~10 % of the samples, and with mimalloc the run was ~3 % faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_decommits` (`mimalloc.h`, the sixth option).
const PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;

fn main() -> std::process::ExitCode {
    keep_freed_pages();
    gexlake::cli::main()
}

/// Memory mimalloc frees back to the kernel is *reset* (`MADV_FREE`: the kernel
/// takes the pages only when it needs them) instead of decommitted
/// (`MADV_DONTNEED`: every page is taken at once, and comes back zeroed by the
/// kernel when touched again). A one-day metrics run frees and reuses ~160 MB
/// this way; decommitted, the kernel's page zeroing was 10–60 % of the run's
/// time on a VM (`perf`: `clear_page_erms`), and the same run's wall time
/// varied by 2× from run to run (benches/README.md, "Where the time goes").
/// `MIMALLOC_PURGE_DECOMMITS=1` in the environment restores mimalloc's default.
#[allow(unsafe_code)]
fn keep_freed_pages() {
    if std::env::var_os("MIMALLOC_PURGE_DECOMMITS").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists
        // (mimalloc's option setters are not thread safe).
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DECOMMITS, 0) };
    }
}
