//! Each symbol's first stored `orats_daily` date, so that looking back for a
//! symbol's earlier rows stops where its history starts.
//!
//! Without it, a symbol with fewer than 59 stored rows — a new listing — would
//! make the look-back read every partition back to the dataset's first date:
//! on a 20-year lake, thousands of files for one nightly date. The index is
//! `_index/orats_daily/first_dates.json` (outside the dataset, so no reader of
//! `orats_daily` sees it). It records the set of stored dates it describes; a
//! lake whose dates differ (no index yet, or partitions written by a version
//! that kept none) gets it rebuilt from the partitions' symbols, once.
//!
//! It may claim a date earlier than a symbol's real first row (it is written
//! before the partitions, so a failed write leaves it early), which only makes
//! a look-back read further; it never claims a later one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use datafusion::arrow::array::{AsArray, RecordBatch};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::info;

use super::DailyError;
use super::stored::read_partition;
use crate::lake::writer::publish;
use crate::store::Location;

/// Where the index lives in the lake.
pub const INDEX_FILE: &str = "_index/orats_daily/first_dates.json";

/// Partitions read at once while building the index.
const BUILD_BATCH: usize = 64;

/// Symbol → first stored date, for one set of stored dates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstDates {
    /// SHA-256 of the stored dates the index describes (one per line).
    dates_sha256: String,
    /// Each symbol's first date.
    first: BTreeMap<String, NaiveDate>,
}

fn dates_digest(dates: &BTreeSet<NaiveDate>) -> String {
    let mut hash = Sha256::new();
    for d in dates {
        hash.update(format!("{d}\n").as_bytes());
    }
    hex::encode(hash.finalize())
}

fn store_error(lake: &Location) -> impl Fn(object_store::Error) -> DailyError + '_ {
    |source| DailyError::Store {
        lake: lake.url(),
        source,
    }
}

impl FirstDates {
    /// The index of `stored`: read from the lake, or rebuilt (and written)
    /// when missing or describing other dates.
    pub async fn load(lake: &Location, stored: &BTreeSet<NaiveDate>) -> Result<Self, DailyError> {
        let digest = dates_digest(stored);
        let path = lake.child(INDEX_FILE);
        match lake.store.get(&path).await {
            Ok(found) => {
                let bytes = found.bytes().await.map_err(store_error(lake))?;
                if let Ok(index) = serde_json::from_slice::<FirstDates>(&bytes)
                    && index.dates_sha256 == digest
                {
                    return Ok(index);
                }
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(lake)(e)),
        }
        let index = Self::build(lake, stored).await?;
        index.save(lake).await?;
        info!(
            symbols = index.first.len(),
            partitions = stored.len(),
            "orats_daily: built the index of first dates"
        );
        Ok(index)
    }

    /// Reads every stored partition's symbols, oldest first.
    async fn build(lake: &Location, stored: &BTreeSet<NaiveDate>) -> Result<Self, DailyError> {
        let mut first = BTreeMap::new();
        let dates: Vec<NaiveDate> = stored.iter().copied().collect();
        for batch in dates.chunks(BUILD_BATCH) {
            let partitions =
                futures::future::try_join_all(batch.iter().map(|d| read_partition(lake, *d)))
                    .await?;
            for (date, rows) in batch.iter().zip(partitions) {
                for symbol in rows.column(0).as_string::<i32>().iter().flatten() {
                    first.entry(symbol.to_string()).or_insert(*date);
                }
            }
        }
        Ok(FirstDates {
            dates_sha256: dates_digest(stored),
            first,
        })
    }

    /// Records `rows` (symbol first, then asof_date) about to be written, the
    /// stored dates becoming `stored`; writes the index.
    pub async fn record(
        &mut self,
        lake: &Location,
        rows: &RecordBatch,
        stored: &BTreeSet<NaiveDate>,
    ) -> Result<(), DailyError> {
        let symbols = rows.column(0).as_string::<i32>();
        for (symbol, day) in symbols.iter().zip(super::stored::row_dates(rows)) {
            let Some(symbol) = symbol else {
                continue;
            };
            let date = crate::orats::values::days_to_date(day);
            self.first
                .entry(symbol.to_string())
                .and_modify(|d| *d = (*d).min(date))
                .or_insert(date);
        }
        self.dates_sha256 = dates_digest(stored);
        self.save(lake).await
    }

    async fn save(&self, lake: &Location) -> Result<(), DailyError> {
        let json = serde_json::to_vec(self).expect("the index serializes");
        publish(
            &lake.store,
            &lake.child(INDEX_FILE),
            bytes::Bytes::from(json),
        )
        .await
        .map_err(store_error(lake))
    }

    /// The first stored date of `symbol`; `None`: no stored row.
    pub fn first(&self, symbol: &str) -> Option<NaiveDate> {
        self.first.get(symbol).copied()
    }
}
