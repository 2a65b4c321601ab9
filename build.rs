//! Rebuilds the crate when a migration changes: `sqlx::migrate!()` embeds them at compile time.
//! On Linux, links the `gexlake` executable as a position-dependent binary.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    // A position-independent `gexlake` applies ~283,000 relative relocations at every start
    // (glibc's `LD_DEBUG=statistics`), ~3 ms of `gexlake --version`; linked at a fixed
    // address it applies 3. Only the executable: the library and the test binaries are
    // unchanged. The cost: no address randomisation of the executable's own code.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
