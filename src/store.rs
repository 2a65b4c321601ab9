//! Locations in object storage: a local path, `file://`, `memory://`, `gs://`
//! or `s3://` URL resolved to an [`ObjectStore`] and a prefix inside it.
//!
//! GCS and S3 credentials come from the standard environment variables read by
//! `object_store`'s `from_env` builders (`GOOGLE_SERVICE_ACCOUNT`,
//! `GOOGLE_APPLICATION_CREDENTIALS`, `AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, …).

use std::fmt;
use std::sync::{Arc, OnceLock};

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use url::Url;

/// Why a location cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    /// The text is not a path or a supported URL.
    #[error("{0:?} is not a local path or a file://, memory://, gs:// or s3:// URL")]
    Unsupported(String),
    /// The URL has no bucket.
    #[error("{0:?} names no bucket")]
    NoBucket(String),
    /// The store could not be configured (credentials, endpoint…).
    #[error("cannot open {url}: {source}")]
    Store {
        /// The location.
        url: String,
        /// What object_store said.
        source: object_store::Error,
    },
    /// The current directory is unknown (for a relative path).
    #[error("cannot resolve relative path {path:?}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A store and a prefix inside it.
#[derive(Clone)]
pub struct Location {
    /// The object store.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix of this location inside the store (no leading or trailing `/`).
    pub prefix: Path,
    /// `scheme://authority/`, the key under which DataFusion finds the store.
    pub store_url: Url,
    /// Whether this is the local file system (paths can be checked with std::fs).
    pub is_local: bool,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

/// The process-wide in-memory store behind every `memory://` location.
fn memory_store() -> Arc<dyn ObjectStore> {
    static STORE: OnceLock<Arc<dyn ObjectStore>> = OnceLock::new();
    STORE.get_or_init(|| Arc::new(InMemory::new())).clone()
}

impl Location {
    /// Resolves a local path or URL.
    pub fn parse(text: &str) -> Result<Self, LocationError> {
        if !text.contains("://") {
            return Self::local(std::path::Path::new(text));
        }
        let url = Url::parse(text).map_err(|_| LocationError::Unsupported(text.to_string()))?;
        let prefix = Path::parse(url.path().trim_matches('/'))
            .map_err(|_| LocationError::Unsupported(text.to_string()))?;
        let bucket = || {
            url.host_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| LocationError::NoBucket(text.to_string()))
        };
        let store_error = |source| LocationError::Store {
            url: text.to_string(),
            source,
        };
        let (store, store_url): (Arc<dyn ObjectStore>, String) = match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|_| LocationError::Unsupported(text.to_string()))?;
                return Self::local(&path);
            }
            "memory" => {
                // memory://lake and memory:///lake both mean the prefix "lake".
                let joined = format!(
                    "{}/{}",
                    url.host_str().unwrap_or(""),
                    url.path().trim_start_matches('/')
                );
                let prefix = Path::parse(joined.trim_matches('/'))
                    .map_err(|_| LocationError::Unsupported(text.to_string()))?;
                return Ok(Location {
                    store: memory_store(),
                    prefix,
                    store_url: Url::parse("memory:///").expect("valid URL"),
                    is_local: false,
                });
            }
            "gs" => {
                let bucket = bucket()?;
                let store = GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(store_error)?;
                (Arc::new(store), format!("gs://{bucket}"))
            }
            "s3" => {
                let bucket = bucket()?;
                let store = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(store_error)?;
                (Arc::new(store), format!("s3://{bucket}"))
            }
            _ => return Err(LocationError::Unsupported(text.to_string())),
        };
        Ok(Location {
            store,
            prefix,
            store_url: Url::parse(&store_url).expect("valid store URL"),
            is_local: false,
        })
    }

    fn local(path: &std::path::Path) -> Result<Self, LocationError> {
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|source| LocationError::Io {
                    path: path.display().to_string(),
                    source,
                })?
                .join(path)
        };
        let normalized = normalize(&absolute);
        let text = normalized.to_string_lossy();
        let prefix = Path::parse(text.trim_matches('/'))
            .map_err(|_| LocationError::Unsupported(text.to_string()))?;
        Ok(Location {
            store: Arc::new(LocalFileSystem::new()),
            prefix,
            store_url: Url::parse("file:///").expect("valid URL"),
            is_local: true,
        })
    }

    /// `scheme://authority` of the store (`file://`, `gs://bucket`…).
    fn base(&self) -> String {
        format!(
            "{}://{}",
            self.store_url.scheme(),
            self.store_url.host_str().unwrap_or("")
        )
    }

    /// The location as a URL (`file:///abs/path`, `gs://bucket/prefix`…).
    pub fn url(&self) -> String {
        let base = self.base();
        if self.prefix.as_ref().is_empty() {
            format!("{base}/")
        } else {
            format!("{base}/{}", self.prefix)
        }
    }

    /// The object path of `relative` (slash-separated) under this location.
    pub fn child(&self, relative: &str) -> Path {
        let mut parts: Vec<&str> = Vec::new();
        if !self.prefix.as_ref().is_empty() {
            parts.push(self.prefix.as_ref());
        }
        parts.extend(relative.split('/').filter(|p| !p.is_empty()));
        Path::from(parts.join("/"))
    }

    /// The URL of `relative` under this location, with a trailing slash for
    /// directories when `dir` is set (DataFusion's listing tables want one).
    pub fn child_url(&self, relative: &str, dir: bool) -> String {
        let base = self.base();
        let path = self.child(relative);
        if dir {
            format!("{base}/{path}/")
        } else {
            format!("{base}/{path}")
        }
    }

    /// The URL of an object path of this location's store.
    pub fn join_root(&self, path: &Path) -> String {
        format!("{}/{path}", self.base())
    }

    /// A sub-location.
    pub fn join(&self, relative: &str) -> Location {
        Location {
            prefix: self.child(relative),
            ..self.clone()
        }
    }

    /// The local file-system path of this location, if it is local.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        self.is_local
            .then(|| std::path::PathBuf::from(format!("/{}", self.prefix)))
    }
}

/// Removes `.` and `..` components without touching the file system.
fn normalize(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_become_absolute_file_urls() {
        let l = Location::parse("/tmp/x/../lake").unwrap();
        assert!(l.is_local);
        assert_eq!(l.url(), "file:///tmp/lake");
        assert_eq!(
            l.child("orats_strikes/a.parquet").as_ref(),
            "tmp/lake/orats_strikes/a.parquet"
        );
        assert_eq!(
            l.child_url("orats_strikes", true),
            "file:///tmp/lake/orats_strikes/"
        );
        assert_eq!(
            l.local_path().unwrap(),
            std::path::PathBuf::from("/tmp/lake")
        );
        let rel = Location::parse("lake").unwrap();
        assert!(rel.url().ends_with("/lake") && rel.url().starts_with("file:///"));
        assert_eq!(
            Location::parse("file:///tmp/lake").unwrap().url(),
            "file:///tmp/lake"
        );
    }

    #[test]
    fn memory_urls_share_one_store() {
        let a = Location::parse("memory://lake").unwrap();
        let b = Location::parse("memory:///lake/").unwrap();
        assert!(Arc::ptr_eq(&a.store, &b.store));
        assert_eq!(a.child("x").as_ref(), "lake/x");
        assert_eq!(b.child("x").as_ref(), "lake/x");
        assert_eq!(a.url(), "memory:///lake");
        assert_eq!(a.child_url("x", true), "memory:///lake/x/");
        let c = Location::parse("memory://lake/raw/2024").unwrap();
        assert_eq!(c.child("x").as_ref(), "lake/raw/2024/x");
    }

    #[test]
    fn unsupported_and_bucketless() {
        assert!(matches!(
            Location::parse("ftp://host/x"),
            Err(LocationError::Unsupported(_))
        ));
        assert!(matches!(
            Location::parse("s3:///x"),
            Err(LocationError::NoBucket(_))
        ));
    }
}
