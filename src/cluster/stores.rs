//! The lake's object stores on every node of a cluster, built on first use.
//!
//! A plan names its files by URL (`file:///…`, `gs://bucket/…`,
//! `s3://bucket/…`); nothing about stores travels with it. Each process (the
//! client, the scheduler listing files and reading footers, the executors
//! reading row groups) resolves a URL through [`LakeStores`], which builds the
//! store for a scheme and bucket the first time it is asked, from this
//! process's environment — the same variables as a local run
//! (`GOOGLE_APPLICATION_CREDENTIALS`, `AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, …).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use object_store::ObjectStore;
use url::Url;

use crate::store::Location;

/// Object stores by `scheme://bucket`, created lazily.
#[derive(Debug, Default)]
pub struct LakeStores {
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

fn key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""))
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().expect("store registry lock");
        stores.insert(key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().expect("store registry lock");
        stores.remove(&key(url)).ok_or_else(|| {
            DataFusionError::Execution(format!("no object store registered for {}", key(url)))
        })
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        let key = key(url);
        if let Some(store) = self.stores.read().expect("store registry lock").get(&key) {
            return Ok(Arc::clone(store));
        }
        let store = match url.scheme() {
            "file" | "gs" | "s3" => {
                Location::parse(&format!("{key}/"))
                    .map_err(|e| DataFusionError::External(Box::new(e)))?
                    .store
            }
            // memory:// lives in one process: no other node could see it.
            _ => {
                return Err(DataFusionError::Configuration(format!(
                    "{key}: a cluster reads lakes on file://, gs:// or s3:// \
                     (a file:// lake must be at the same path on every node)"
                )));
            }
        };
        let mut stores = self.stores.write().expect("store registry lock");
        Ok(Arc::clone(stores.entry(key).or_insert(store)))
    }
}

/// A runtime whose object stores are [`LakeStores`]; spill files go to
/// `temp_dir` when given (an executor's work directory).
pub fn runtime(temp_dir: Option<PathBuf>) -> datafusion::error::Result<Arc<RuntimeEnv>> {
    let mut builder =
        RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(LakeStores::default()));
    if let Some(dir) = temp_dir {
        builder = builder.with_temp_file_path(dir);
    }
    builder.build_arc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_each_store_once_and_refuses_memory() {
        let stores = LakeStores::default();
        let a = stores
            .get_store(&Url::parse("file:///tmp/a").unwrap())
            .unwrap();
        let b = stores
            .get_store(&Url::parse("file:///var/b").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let s3 = stores
            .get_store(&Url::parse("s3://bucket-one/lake").unwrap())
            .unwrap();
        let other = stores
            .get_store(&Url::parse("s3://bucket-two/lake").unwrap())
            .unwrap();
        assert!(!Arc::ptr_eq(&s3, &other));
        let err = stores
            .get_store(&Url::parse("memory:///lake").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("file://, gs:// or s3://"), "{err}");
    }
}
