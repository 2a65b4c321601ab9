//! Test support, not for production use: a throwaway Postgres server, synthetic metrics and
//! the V2 handoff's queries, shared by the integration tests and the benchmarks.

pub mod handoff;
pub mod pg;
pub mod synthetic;
