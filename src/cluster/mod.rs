//! Running gexlake's SQL on an Apache DataFusion Ballista cluster.
//!
//! The client side ([`session`]) plans as usual and sends the logical plan to
//! a scheduler (`--cluster df://HOST:PORT`); the scheduler cuts it into stages
//! and the executors run them, reading the lake themselves. What crosses the
//! network: the plan (SQL's tables as lake URLs, the run's small in-memory
//! tables as Arrow IPC, functions by name), the session's settings, shuffle
//! data between executors and the results back to the client. Never
//! credentials: each process builds its object stores from its own
//! environment ([`stores::LakeStores`]), the same variables as a local run.
//!
//! [`serve`] holds the two server processes (`gexlake scheduler`,
//! `gexlake executor`); both register every gexlake function, so a plan naming
//! one runs the same code on every node.
//!
//! Everything here but [`Cluster`] needs the `cluster` cargo feature (on by
//! default); without it `--cluster` fails with a message saying so.

#[cfg(feature = "cluster")]
pub mod codec;
#[cfg(feature = "cluster")]
pub mod serve;
#[cfg(feature = "cluster")]
pub mod stores;

use std::fmt;

use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};

/// Ballista's default number of partitions per stage: enough to keep a few
/// executors busy; `--cluster-partitions` changes it.
pub const DEFAULT_PARTITIONS: usize = 16;

/// The largest gRPC message between client, scheduler and executors. A plan
/// carries the run's in-memory tables (a metrics chunk's spot table is ~12 MB
/// for 25 full-size days), above Ballista's 16 MB default.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// A Ballista scheduler to run queries on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    host: String,
    port: u16,
    /// Partitions per stage (the parallelism the scheduler plans for).
    pub partitions: usize,
}

/// Why a `--cluster` value is not a scheduler address.
#[derive(Debug, thiserror::Error)]
#[error(
    "--cluster {0:?}: expected df://HOST:PORT (the scheduler's address, e.g. df://localhost:50050)"
)]
pub struct ClusterUrlError(String);

impl Cluster {
    /// Parses `df://HOST:PORT`.
    pub fn parse(text: &str, partitions: usize) -> Result<Self, ClusterUrlError> {
        let bad = || ClusterUrlError(text.to_string());
        let rest = text.strip_prefix("df://").ok_or_else(bad)?;
        let (host, port) = rest
            .trim_end_matches('/')
            .rsplit_once(':')
            .ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || host.contains('/') || port == 0 || partitions == 0 {
            return Err(bad());
        }
        Ok(Cluster {
            host: host.to_string(),
            port,
            partitions,
        })
    }

    /// The scheduler's host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The scheduler's port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "df://{}:{}", self.host, self.port)
    }
}

/// A session whose queries run on `cluster`: `config`'s settings (its
/// partition count replaced by the cluster's), every gexlake function, the
/// lake's object stores resolved from this process's environment.
#[cfg(feature = "cluster")]
pub async fn session(
    cluster: &Cluster,
    config: SessionConfig,
) -> Result<SessionContext, DataFusionError> {
    use std::sync::Arc;

    use ballista::prelude::{SessionConfigExt, SessionContextExt};
    use datafusion::execution::FunctionRegistry;
    use datafusion::execution::session_state::SessionStateBuilder;

    // Ballista connects at the first query, with a transport error; say it here.
    let address = (cluster.host.trim_matches(['[', ']']), cluster.port);
    match tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::TcpStream::connect(address),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(DataFusionError::Configuration(format!(
                "cannot reach the scheduler at {cluster}: {e} (is `gexlake scheduler` running there?)"
            )));
        }
        Err(_) => {
            return Err(DataFusionError::Configuration(format!(
                "cannot reach the scheduler at {cluster}: no answer within 10 s"
            )));
        }
    }
    let config = config
        .with_target_partitions(cluster.partitions)
        .with_ballista_grpc_client_max_message_size(MAX_MESSAGE_BYTES)
        .with_ballista_logical_extension_codec(Arc::new(codec::LakeCodec::default()));
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(stores::runtime(None)?)
        .build();
    let mut ctx = SessionContext::remote_with_state(&cluster.to_string(), state).await?;
    // After `remote_with_state`: it replaces the function lists of the state.
    gexlake_udfs::register_all(&mut ctx as &mut dyn FunctionRegistry)?;
    Ok(ctx)
}

/// Without the `cluster` feature: an error saying how to get one.
#[cfg(not(feature = "cluster"))]
pub async fn session(
    cluster: &Cluster,
    _config: SessionConfig,
) -> Result<SessionContext, DataFusionError> {
    Err(DataFusionError::Configuration(format!(
        "--cluster {cluster}: this gexlake was built without the `cluster` feature \
         (build with the default features to run on a Ballista cluster)"
    )))
}

/// Whether `ctx` sends its queries to a cluster.
pub fn is_distributed(ctx: &SessionContext) -> bool {
    #[cfg(feature = "cluster")]
    {
        ctx.copied_config()
            .options()
            .extensions
            .get::<ballista_core::config::BallistaConfig>()
            .is_some()
    }
    #[cfg(not(feature = "cluster"))]
    {
        let _ = ctx;
        false
    }
}

/// What a cluster error means, when it is one of the known ones: an
/// executor (or scheduler) that decodes a plan naming a function it does not
/// have reports the codec's `… is not provided for aggregate function NAME`.
pub fn explain(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("is not provided for ")?;
    let rest = rest
        .strip_prefix("aggregate ")
        .or_else(|| rest.strip_prefix("scalar "))
        .or_else(|| rest.strip_prefix("window "))?;
    let name: String = rest
        .strip_prefix("function ")?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    Some(format!(
        "a node of the cluster does not have the function `{name}`: run the scheduler and \
         executors with `gexlake scheduler` / `gexlake executor` of this gexlake version \
         (a stock Ballista executor knows none of gexlake's functions); nothing was written"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_a_missing_function() {
        let message = "Job 038J failed: Job failed due to stage 2 failed: Task failed due to runtime \
            execution error: DataFusionError(NotImplemented(\"PhysicalExtensionCodec is not provided \
            for aggregate function exact_sum\"))";
        let hint = explain(message).unwrap();
        assert!(hint.contains("function `exact_sum`"), "{hint}");
        assert!(hint.contains("gexlake executor"), "{hint}");
        assert_eq!(explain("Parquet error: bad footer"), None);
    }

    #[test]
    fn parses_scheduler_addresses() {
        let c = Cluster::parse("df://sched-host:50050", 16).unwrap();
        assert_eq!((c.host(), c.port()), ("sched-host", 50050));
        assert_eq!(c.to_string(), "df://sched-host:50050");
        assert_eq!(Cluster::parse("df://[::1]:7/", 4).unwrap().host(), "[::1]");
        for bad in [
            "sched-host:50050",
            "http://h:1",
            "df://h",
            "df://:50050",
            "df://h:0",
            "df://h:port",
            "df://h/x:5",
        ] {
            let err = Cluster::parse(bad, 16).unwrap_err().to_string();
            assert!(err.contains("df://HOST:PORT"), "{bad}: {err}");
        }
        assert!(Cluster::parse("df://h:1", 0).is_err());
    }
}
