//! The `gexlake` command: a thin wrapper over the library.

/// mimalloc instead of the system allocator: DataFusion's plans allocate and free
/// many short-lived buffers; in a profile of a one-day metrics run glibc's malloc
/// and free took ~10 % of the samples, and with mimalloc the run was ~3 % faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_decommits` (`mimalloc.h`, the sixth option).
const PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;

fn main() {
    keep_freed_pages();
    small_pages_only();
    keep_c_heap();
    let code = gexlake::cli::main();
    exit_at_once(code)
}

/// Ends the process once the command is done, without taking it apart first.
///
/// When `cli::main` returns, every file and object the command wrote is
/// complete (each write is awaited before the command returns), every log line
/// is on stderr (each is written whole as it is logged) and every result on
/// stdout once it is flushed here. What a normal exit does after that is only
/// cleanup the kernel does anyway when the process ends: the runtime joining
/// its idle threads, each thread's mimalloc heap handed back, and mimalloc's
/// exit handler returning every free page to the kernel page by page
/// (`madvise`, ~300 calls after a one-day metrics run). That took 21 ms of a
/// one-day `metrics` run's ~300 ms; `_exit` leaves it to the kernel
/// (benches/README.md, "Planning, and the end of a run").
#[allow(unsafe_code)]
fn exit_at_once(code: u8) -> ! {
    use std::io::Write;
    // As at a normal exit, a stdout nobody reads any more (a closed pipe) is
    // not an error of the command.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` ends the process at once; nothing runs after it, so no
    // Rust invariant can be observed broken. Everything that had to reach the
    // kernel has (above).
    unsafe { libc::_exit(i32::from(code)) }
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

/// No transparent huge pages for this process. mimalloc asks for them on its
/// arena (`madvise(MADV_HUGEPAGE)` on the 1 GiB it reserves), so the first touch
/// of any byte of a 2 MiB region had the kernel zero all of it: a one-day metrics
/// run touches its memory sparsely (small pages spread over the arena) and had
/// ~190 MB zeroed, where with 4 KiB pages ~70 MB are. On a VM whose first touch
/// of a page is slow at times (the host backs it then), the zeroing was a third
/// of such a run's samples (`perf`: `clear_page_erms` under
/// `do_huge_pmd_anonymous_page`), and with huge pages off the same runs' median
/// fell by ~15 %, with the system time a third of what it was (benches/README.md,
/// "Where the time goes"). `MIMALLOC_ALLOW_THP=1` in the environment keeps them.
#[allow(unsafe_code)]
fn small_pages_only() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: prctl with PR_SET_THP_DISABLE reads no memory; it sets a flag
        // of this process (inherited by its children) that the kernel checks on
        // each page fault. Failure (an old kernel) leaves huge pages allowed.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

/// glibc's heap, which only C code in the process uses (zstd), keeps what it
/// frees. The Parquet crate creates a zstd compression and a decompression
/// context (`ZSTDCodec::new`, parquet 59) for every column chunk it reads or
/// writes, and frees them after it; glibc handed the freed top of its heap back
/// to the kernel (a 128 KiB trim threshold) or served the allocation with its
/// own `mmap`, so each new context was faulted in and zeroed again. Keeping
/// 256 MiB before trimming, and serving allocations below 32 MiB from the heap,
/// halved the page faults of a one-year `gexlake sql` history (15,400 →
/// 7,600) and made it ~8 % faster (0.157 → 0.143 s query time, best of 6,
/// interleaved); one day of ingest 146K → 104K faults, its system time
/// 0.37 → 0.28 s. `GLIBC_TUNABLES` in the environment leaves glibc as set there.
#[allow(unsafe_code)]
fn keep_c_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        // SAFETY: called in `main` before any other thread exists; mallopt only
        // sets glibc's malloc parameters. A refused value leaves glibc's default.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        }
    }
}
