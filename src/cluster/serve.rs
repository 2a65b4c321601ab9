//! The cluster's two server processes, built from Ballista's library crates
//! with gexlake's functions and object stores: `gexlake scheduler` and
//! `gexlake executor`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::default_session_builder;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tokio::net::TcpListener;

use super::codec::LakeCodec;
use super::{MAX_MESSAGE_BYTES, stores};

const MAX_MESSAGE: u32 = MAX_MESSAGE_BYTES as u32;

/// A session state with every gexlake function and the lake's stores: what
/// the scheduler plans with.
fn scheduler_session(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    let state = default_session_builder(config)?;
    let mut state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(stores::runtime(None)?)
        .build();
    gexlake_udfs::register_all(&mut state as &mut dyn FunctionRegistry)?;
    Ok(state)
}

/// The functions an executor can run: DataFusion's, Ballista's and gexlake's.
pub fn function_registry() -> datafusion::error::Result<BallistaFunctionRegistry> {
    let mut state = default_session_builder(SessionConfig::new())?;
    gexlake_udfs::register_all(&mut state as &mut dyn FunctionRegistry)?;
    Ok(BallistaFunctionRegistry::from(&state))
}

/// Serves the scheduler on `listener` until the process is stopped.
/// `external_host` is the name executors and clients reach it by; with
/// `flight_proxy`, clients fetch results through the scheduler's port instead
/// of from the executors (clients outside the executors' network).
pub async fn run_scheduler(
    listener: TcpListener,
    external_host: Option<String>,
    flight_proxy: bool,
) -> Result<()> {
    let local = listener.local_addr()?;
    let config = SchedulerConfig {
        bind_host: local.ip().to_string(),
        bind_port: local.port(),
        external_host: external_host.unwrap_or_else(|| local.ip().to_string()),
        // Executors pull their tasks: only their Flight ports must be reachable.
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        enable_embedded_flight_proxy: flight_proxy,
        grpc_server_max_decoding_message_size: MAX_MESSAGE,
        grpc_server_max_encoding_message_size: MAX_MESSAGE,
        grpc_client_max_message_size: MAX_MESSAGE,
        override_session_builder: Some(Arc::new(scheduler_session)),
        override_logical_codec: Some(Arc::new(LakeCodec::default())),
        ..SchedulerConfig::default()
    };
    config
        .validate()
        .map_err(|e| anyhow!("scheduler settings: {e}"))?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| anyhow!("scheduler: {e}"))?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
            .await
            .map_err(|e| anyhow!("scheduler: {e}"))?;
    tracing::info!(address = %local, "scheduler listening");
    start_grpc_service_with_listener(listener, scheduler)
        .await
        .map_err(|e| anyhow!("scheduler: {e}"))
}

/// What an executor needs to start.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host and port.
    pub scheduler: (String, u16),
    /// Where the executor's Arrow Flight service (shuffle reads, results)
    /// listens; the executor pulls its tasks from the scheduler.
    pub bind: SocketAddr,
    /// The name other nodes reach this executor by (default: the address the
    /// scheduler sees it connect from).
    pub external_host: Option<String>,
    /// Tasks run at once.
    pub slots: usize,
    /// Shuffle and spill files.
    pub work_dir: PathBuf,
    /// How long to wait for the scheduler to accept connections.
    pub connect_timeout: Duration,
}

/// Runs an executor until the process is stopped (SIGTERM, Ctrl-C) or the
/// scheduler asks it to stop.
pub async fn run_executor(options: ExecutorOptions) -> Result<()> {
    let (host, port) = options.scheduler.clone();
    wait_for(&host, port, options.connect_timeout).await?;
    std::fs::create_dir_all(&options.work_dir)
        .with_context(|| format!("work directory {}", options.work_dir.display()))?;
    let work_dir = options.work_dir.clone();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        port: options.bind.port(),
        // Unused: tasks are pulled from the scheduler, never pushed.
        grpc_port: options.bind.port().saturating_add(1),
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        external_host: options.external_host.clone(),
        scheduler_host: host,
        scheduler_port: port,
        vcores: options.slots.max(1),
        grpc_max_decoding_message_size: MAX_MESSAGE,
        grpc_max_encoding_message_size: MAX_MESSAGE,
        work_dir: Some(work_dir.display().to_string()),
        // Ballista's own log files: ours go to stderr through tracing.
        log_dir: None,
        // Shuffle files: the scheduler has each job's removed once it is done;
        // as a safety net, any older than a day every 30 minutes, and all of
        // them when the executor stops (Ballista's default keeps them forever).
        job_data_clean_up_interval_seconds: 30 * 60,
        job_data_ttl_seconds: 24 * 60 * 60,
        override_function_registry: Some(Arc::new(function_registry()?)),
        override_runtime_producer: Some(Arc::new(move |_| stores::runtime(Some(work_dir.clone())))),
        override_logical_codec: Some(Arc::new(LakeCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    tracing::info!(
        flight = %options.bind,
        slots = config.vcores,
        scheduler = %format!("{}:{}", config.scheduler_host, config.scheduler_port),
        "executor starting"
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| anyhow!("executor: {e}"))
}

/// Waits until `host:port` accepts a TCP connection (a scheduler starting
/// next to its executors), or fails after `timeout`.
async fn wait_for(host: &str, port: u16, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        match tokio::net::TcpStream::connect((host, port)).await {
            Ok(_) => return Ok(()),
            Err(e) if start.elapsed() >= timeout => {
                return Err(anyhow!(
                    "scheduler {host}:{port} does not accept connections after {:?}: {e}",
                    timeout
                ));
            }
            Err(e) => {
                tracing::debug!("scheduler {host}:{port} not reachable yet: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}
