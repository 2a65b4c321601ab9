//! `gexlake scheduler`: a Ballista scheduler with gexlake's functions and
//! object stores, for `--cluster df://HOST:PORT`.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use clap::Args;

use crate::outcome::Outcome;

/// `scheduler`'s flags.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (clients and executors connect here; port 0 picks a free one).
    #[arg(long, default_value = "0.0.0.0:50050", env = "GEXLAKE_SCHEDULER_BIND")]
    bind: SocketAddr,
    /// The name other nodes reach this scheduler by (default: the bind address).
    #[arg(long, env = "GEXLAKE_EXTERNAL_HOST")]
    external_host: Option<String>,
    /// Serve query results through this port, for clients that cannot reach
    /// the executors (by default a client fetches them from the executors).
    #[arg(long)]
    flight_proxy: bool,
}

/// Runs `gexlake scheduler` until SIGTERM or Ctrl-C.
pub async fn run(args: SchedulerArgs) -> Result<Outcome> {
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("--bind {}", args.bind))?;
    tokio::select! {
        served = crate::cluster::serve::run_scheduler(listener, args.external_host, args.flight_proxy) => served?,
        signal = crate::nightly::shutdown_signal() => tracing::info!("scheduler: {signal}, stopping"),
    }
    Ok(Outcome::default())
}
