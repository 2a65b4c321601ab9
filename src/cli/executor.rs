//! `gexlake executor`: a Ballista executor with gexlake's functions and
//! object stores, serving a `gexlake scheduler`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::cluster::serve::{ExecutorOptions, run_executor};
use crate::outcome::Outcome;

/// `executor`'s flags.
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler, as HOST:PORT.
    #[arg(long, default_value = "localhost:50050", env = "GEXLAKE_SCHEDULER")]
    scheduler: String,
    /// Address of this executor's Arrow Flight service (shuffle and results; the
    /// other executors and the clients connect here). Tasks are pulled from the scheduler.
    #[arg(long, default_value = "0.0.0.0:50051", env = "GEXLAKE_EXECUTOR_BIND")]
    bind: SocketAddr,
    /// The name other nodes reach this executor by (default: the address the scheduler sees).
    #[arg(long, env = "GEXLAKE_EXTERNAL_HOST")]
    external_host: Option<String>,
    /// Tasks run at once (default: every core).
    #[arg(long, env = "GEXLAKE_SLOTS")]
    slots: Option<usize>,
    /// Shuffle and spill files (default: a directory under the system's temporary directory).
    #[arg(long, env = "GEXLAKE_EXECUTOR_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Seconds to wait for the scheduler to accept connections.
    #[arg(long, default_value_t = 60)]
    connect_timeout: u64,
}

/// Runs `gexlake executor` until SIGTERM, Ctrl-C or the scheduler stops it.
pub async fn run(args: ExecutorArgs) -> Result<Outcome> {
    let (host, port) = args
        .scheduler
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .filter(|(h, _)| !h.is_empty())
        .with_context(|| format!("--scheduler {:?}: expected HOST:PORT", args.scheduler))?;
    let slots = match args.slots {
        Some(0) => bail!("--slots must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let work_dir = args.work_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("gexlake-executor-{}", args.bind.port()))
    });
    let options = ExecutorOptions {
        scheduler: (host, port),
        bind: args.bind,
        external_host: args.external_host,
        slots,
        work_dir,
        connect_timeout: Duration::from_secs(args.connect_timeout),
    };
    run_executor(options).await?;
    Ok(Outcome::default())
}
