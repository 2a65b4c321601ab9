//! gexlake: ORATS end-of-day option archives → a hive-partitioned Parquet lake →
//! dealer gamma-exposure metrics (DataFusion SQL + UDAFs) → Postgres.
//!
//! Data flows one way: [`orats`] reads archives, [`lake`] writes and reads the
//! Parquet lake, [`metrics`] computes dealer metrics from it, [`sink`] upserts
//! them into Postgres, and the pipelines chain the stages.
//!
//! Imports flow one way too, from the top layer down (`tests/layout.rs` keeps it so):
//!
//! | layer | modules |
//! |---|---|
//! | commands | [`cli`]: flags → validated settings; a job's [`outcome`] → exit status |
//! | jobs | [`pipeline`], [`nightly`], [`analyst`] |
//! | stages | [`orats`] and [`sample`] → [`lake`] and [`ingest`] → [`metrics`] and [`daily`] → [`sink`] |
//! | foundations | [`store`], [`cluster`], [`ftp`], [`logging`], [`progress`], [`outcome`] |

pub mod analyst;
pub mod cli;
pub mod cluster;
pub mod daily;
pub mod ftp;
pub mod ingest;
pub mod lake;
pub mod logging;
pub mod metrics;
pub mod nightly;
pub mod orats;
pub mod outcome;
pub mod pipeline;
pub mod progress;
pub mod sample;
pub mod sink;
pub mod store;

// Lets test support shared with the integration tests (`tests/support/`) name this crate
// `gexlake` from inside its unit tests too.
#[cfg(test)]
extern crate self as gexlake;
