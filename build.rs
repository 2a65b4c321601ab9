//! Rebuilds the crate when a migration changes: `sqlx::migrate!()` embeds them at compile time.
//! On Linux, links the `gexlake` executable as a position-dependent binary.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    // A position-independent `gexlake` spends ~5 ms of every start applying ~280,000
    // relative relocations (glibc's `LD_DEBUG=statistics`); linked at a fixed address it
    // has none. Only the executable: the library and the test binaries are unchanged.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
