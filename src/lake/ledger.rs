//! The ingest ledger: one JSON document per converted source, written last,
//! so a source with a ledger entry is completely in the lake.

use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDate;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::orats::layout::Layout;

/// One partition file a source produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPartition {
    /// The trade date.
    pub trade_date: NaiveDate,
    /// Lake-relative path of the file.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// The record of one converted source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Where the source was read from.
    pub source: String,
    /// The source's file name.
    pub name: String,
    /// Size of the source in bytes.
    pub size: u64,
    /// The source's last-modified time as the store reported it (RFC 3339).
    pub last_modified: String,
    /// The source's ETag, if the store gives one.
    pub e_tag: Option<String>,
    /// Hex SHA-256 of the source's bytes.
    pub sha256: String,
    /// The CSV member read.
    pub member: String,
    /// Data rows read.
    pub rows_in: u64,
    /// Rows written to the lake.
    pub rows_out: u64,
    /// Rows rejected (see `rejects`).
    pub rows_rejected: u64,
    /// Lake-relative path of the rejects file, when there are rejects.
    pub rejects: Option<String>,
    /// The header layout; `None` for an empty member.
    pub layout: Option<Layout>,
    /// Header columns not stored.
    pub unknown_columns: Vec<String>,
    /// The partition files written.
    pub partitions: Vec<LedgerPartition>,
    /// gexlake's version.
    pub tool_version: String,
}

impl LedgerEntry {
    /// Whether the source described by `size`/`last_modified`/`e_tag` looks
    /// unchanged since this entry was written (no need to read it again).
    pub fn matches_listing(&self, size: u64, last_modified: &str, e_tag: Option<&str>) -> bool {
        self.size == size
            && self.last_modified == last_modified
            && (self.e_tag.is_none() || e_tag.is_none() || self.e_tag.as_deref() == e_tag)
    }
}

/// Reads a ledger entry; `Ok(None)` when there is none.
pub async fn read(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
) -> Result<Option<LedgerEntry>, LedgerError> {
    match store.get(path).await {
        Ok(result) => {
            let bytes = result.bytes().await.map_err(LedgerError::Store)?;
            let entry = serde_json::from_slice(&bytes).map_err(|source| LedgerError::Corrupt {
                path: path.to_string(),
                source,
            })?;
            Ok(Some(entry))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(LedgerError::Store(e)),
    }
}

/// The ledger document's bytes (pretty JSON, stable key order).
pub fn encode(entry: &LedgerEntry) -> Bytes {
    let mut text = serde_json::to_vec_pretty(entry).expect("ledger serializes");
    text.push(b'\n');
    Bytes::from(text)
}

/// Why the ledger could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The store failed.
    #[error("reading the ledger: {0}")]
    Store(object_store::Error),
    /// The document is not a ledger entry.
    #[error("ledger entry {path} is not valid: {source}")]
    Corrupt {
        /// The entry's path.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LedgerEntry {
        LedgerEntry {
            source: "file:///a/x.zip".into(),
            name: "x.zip".into(),
            size: 10,
            last_modified: "2026-02-05T22:00:00+00:00".into(),
            e_tag: Some("abc".into()),
            sha256: "00".into(),
            member: "x.csv".into(),
            rows_in: 3,
            rows_out: 2,
            rows_rejected: 1,
            rejects: Some("_rejects/x.csv".into()),
            layout: Some(Layout::V1),
            unknown_columns: vec![],
            partitions: vec![],
            tool_version: "0.1.0".into(),
        }
    }

    #[test]
    fn listing_match_needs_same_size_and_time() {
        let e = entry();
        assert!(e.matches_listing(10, "2026-02-05T22:00:00+00:00", Some("abc")));
        assert!(e.matches_listing(10, "2026-02-05T22:00:00+00:00", None));
        assert!(!e.matches_listing(11, "2026-02-05T22:00:00+00:00", Some("abc")));
        assert!(!e.matches_listing(10, "2026-02-06T22:00:00+00:00", Some("abc")));
        assert!(!e.matches_listing(10, "2026-02-05T22:00:00+00:00", Some("abd")));
    }

    #[tokio::test]
    async fn round_trip_through_a_store() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let path = Path::from("_ingest/x.json");
        assert_eq!(read(&store, &path).await.unwrap(), None);
        store.put(&path, encode(&entry()).into()).await.unwrap();
        assert_eq!(read(&store, &path).await.unwrap(), Some(entry()));
        store
            .put(&path, Bytes::from_static(b"{").into())
            .await
            .unwrap();
        assert!(matches!(
            read(&store, &path).await,
            Err(LedgerError::Corrupt { .. })
        ));
    }
}
