//! Test support, kept out of the library and the release binary: a throwaway Postgres server,
//! synthetic metrics and the V2 handoff's queries, shared by the integration tests (`mod
//! support;`) and the benchmarks (`#[path]`).
// Each test crate uses its own part of the support.
#![allow(dead_code)]

pub mod handoff;
pub mod pg;
pub mod synthetic;
