//! Issue #17: the metrics, `orats_daily` and SQL on a Ballista cluster
//! (`gexlake scheduler` + `gexlake executor` processes on loopback) write the
//! lake a local run writes, byte for byte; an executor without gexlake's
//! functions fails the query with an error naming the function; and
//! `backfill --shard I/N` tasks into one lake, then `gexlake daily`, make the
//! lake of one unsharded backfill.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use common::{free_port, isolated_gexlake, output_within, write_split_day};

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// Writes each date's generated rows as two archives (`A_…` and `B_…`,
/// tickers alternating), so each trade-date partition holds two files.
fn archives(dir: &Path, dates: &[NaiveDate]) {
    std::fs::create_dir_all(dir).unwrap();
    for (i, date) in dates.iter().enumerate() {
        let spec = gexlake::sample::SampleSpec {
            tickers: 14,
            seed: 17 + i as u64,
            ..gexlake::sample::SampleSpec::new(*date)
        };
        let stamp = date.format("%Y%m%d");
        let (a, b) = (
            format!("A_ORATS_SMV_Strikes_{stamp}"),
            format!("B_ORATS_SMV_Strikes_{stamp}"),
        );
        write_split_day(dir, &spec, [&a, &b]);
    }
}

/// Runs the built gexlake to its end (JSON logs); returns (exit code, stderr).
fn gexlake(args: &[&str]) -> (i32, String) {
    let mut cmd = isolated_gexlake();
    cmd.args(args).args(["--log-format", "json"]);
    let out = output_within(
        &mut cmd,
        Duration::from_secs(300),
        &format!("gexlake {}", args.join(" ")),
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn gexlake_ok(args: &[&str]) -> String {
    let (code, stderr) = gexlake(args);
    assert_eq!(code, 0, "gexlake {}:\n{stderr}", args.join(" "));
    stderr
}

/// Every Parquet file of the lake's datasets (not its ledger or markers),
/// by lake-relative path.
fn parquet_files(lake: &Path, datasets: &[&str]) -> BTreeMap<String, Vec<u8>> {
    datasets
        .iter()
        .flat_map(|dataset| {
            common::tree(&lake.join(dataset))
                .into_iter()
                .filter(|(path, _)| path.ends_with(".parquet"))
                .map(move |(path, bytes)| (format!("{dataset}/{path}"), bytes))
        })
        .collect()
}

#[track_caller]
fn assert_same_files(expected: &BTreeMap<String, Vec<u8>>, actual: &BTreeMap<String, Vec<u8>>) {
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        actual.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (path, bytes) in expected {
        assert!(actual[path] == *bytes, "{path} differs");
    }
}

#[test]
fn two_shards_then_daily_make_the_lake_of_one_backfill() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let dates: Vec<NaiveDate> = ["2026-02-02", "2026-02-03", "2026-02-04", "2026-02-05"]
        .iter()
        .map(|d| day(d))
        .collect();
    archives(&input, &dates);
    let input = input.to_str().unwrap();
    let single = dir.path().join("single");
    gexlake_ok(&[
        "backfill",
        "--dir",
        input,
        "--lake",
        single.to_str().unwrap(),
    ]);

    let sharded = dir.path().join("sharded");
    let sharded_s = sharded.to_str().unwrap();
    let mut taken = Vec::new();
    for shard in ["0/2", "1/2"] {
        let log = gexlake_ok(&[
            "backfill", "--dir", input, "--lake", sharded_s, "--shard", shard,
        ]);
        let line = log
            .lines()
            .find(|l| l.contains("this shard's archives"))
            .unwrap_or_else(|| panic!("no shard line in:\n{log}"));
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        taken.push(event["archives"].as_u64().unwrap());
        assert!(
            log.contains("orats_daily: left to the run after the shards"),
            "{log}"
        );
    }
    // Consecutive trading days alternate: each task takes two days' archives.
    assert_eq!(taken, [4, 4]);
    assert!(
        !sharded.join("orats_daily").exists(),
        "no orats_daily before the final run"
    );
    // Cloud Run's task variables select a shard too: both shards are done, so nothing is left.
    let mut cmd = isolated_gexlake();
    cmd.args([
        "backfill",
        "--dir",
        input,
        "--lake",
        sharded_s,
        "--log-format",
        "json",
    ])
    .env("CLOUD_RUN_TASK_INDEX", "1")
    .env("CLOUD_RUN_TASK_COUNT", "2");
    let out = output_within(
        &mut cmd,
        Duration::from_secs(300),
        "backfill from task variables",
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("\"shard\":\"1/2\""), "{log}");
    gexlake_ok(&[
        "daily",
        "--lake",
        sharded_s,
        "--from",
        "2026-02-02",
        "--to",
        "2026-02-05",
    ]);

    let datasets = ["orats_strikes", "dealer_metrics", "orats_daily"];
    let expected = parquet_files(&single, &datasets);
    assert!(expected.keys().any(|k| k.starts_with("orats_daily/")));
    assert!(
        expected
            .keys()
            .filter(|k| k.starts_with("dealer_metrics/"))
            .count()
            == 8
    );
    assert_same_files(&expected, &parquet_files(&sharded, &datasets));

    let (code, stderr) = gexlake(&[
        "backfill", "--dir", input, "--lake", sharded_s, "--shard", "2/2",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("expected I/N"), "{stderr}");
}

#[cfg(feature = "cluster")]
mod on_a_cluster {
    use super::*;

    /// A server process, stopped when dropped; its stderr goes to a file.
    struct Node {
        child: Child,
        log: PathBuf,
    }

    impl Node {
        fn start(args: &[&str], log: PathBuf) -> Node {
            let file = std::fs::File::create(&log).unwrap();
            let child = Command::new(common::gexlake_bin())
                .args(args)
                .args(["--log-format", "json"])
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(file))
                .spawn()
                .unwrap();
            Node { child, log }
        }

        fn log(&self) -> String {
            std::fs::read_to_string(&self.log).unwrap_or_default()
        }
    }

    impl Drop for Node {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[track_caller]
    fn wait_for_port(port: u16, node: &mut Node) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = node.child.try_wait().unwrap() {
                panic!("exited with {status} before listening:\n{}", node.log());
            }
            assert!(
                Instant::now() < deadline,
                "port {port} never opened:\n{}",
                node.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A scheduler on loopback; returns it and its `df://` URL.
    fn scheduler(dir: &Path) -> (Node, u16) {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut node = Node::start(&["scheduler", "--bind", &bind], dir.join("scheduler.log"));
        wait_for_port(port, &mut node);
        (node, port)
    }

    fn executor(dir: &Path, scheduler_port: u16, n: usize) -> Node {
        let port = free_port();
        let (scheduler, bind) = (
            format!("127.0.0.1:{scheduler_port}"),
            format!("127.0.0.1:{port}"),
        );
        let work = dir.join(format!("executor{n}"));
        let mut node = Node::start(
            &[
                "executor",
                "--scheduler",
                &scheduler,
                "--bind",
                &bind,
                "--slots",
                "2",
                "--work-dir",
                work.to_str().unwrap(),
            ],
            dir.join(format!("executor{n}.log")),
        );
        wait_for_port(port, &mut node);
        node
    }

    #[test]
    fn a_cluster_of_two_executors_writes_the_lake_of_a_local_run() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        archives(&input, &[day("2026-02-04"), day("2026-02-05")]);
        let input = input.to_str().unwrap();
        let local = dir.path().join("local");
        gexlake_ok(&[
            "backfill",
            "--dir",
            input,
            "--lake",
            local.to_str().unwrap(),
        ]);

        let lake = dir.path().join("clustered");
        let lake_s = lake.to_str().unwrap();
        gexlake_ok(&["ingest", input, "--lake", lake_s]);
        let (scheduler, port) = scheduler(dir.path());
        let executors = [executor(dir.path(), port, 1), executor(dir.path(), port, 2)];
        let cluster = format!("df://127.0.0.1:{port}");
        let range = ["--from", "2026-02-04", "--to", "2026-02-05"];
        for profile in ["a3", "v2"] {
            let log = gexlake_ok(
                &[
                    &[
                        "metrics",
                        "--lake",
                        lake_s,
                        "--cluster",
                        &cluster,
                        "--profile",
                        profile,
                    ][..],
                    &range[..],
                ]
                .concat(),
            );
            assert!(
                log.contains(&format!("\"cluster\":\"{cluster} (16 partitions)\"")),
                "{log}"
            );
        }
        gexlake_ok(
            &[
                &["daily", "--lake", lake_s, "--cluster", &cluster][..],
                &range[..],
            ]
            .concat(),
        );

        // Same bytes as the local run: both profiles and orats_daily.
        let datasets = ["dealer_metrics", "orats_daily"];
        let expected = parquet_files(&local, &datasets);
        assert_eq!(expected.len(), 6, "{:?}", expected.keys());
        assert_same_files(&expected, &parquet_files(&lake, &datasets));

        // It ran there: both executors ran tasks of the jobs.
        for node in &executors {
            let log = node.log();
            assert!(
                log.contains("Received task"),
                "an executor ran no task:\n{log}"
            );
        }
        assert!(
            scheduler.log().contains("scheduler listening"),
            "{}",
            scheduler.log()
        );

        // The plan's root is Ballista's, and SQL runs there too.
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let location = gexlake::store::Location::parse(lake_s).unwrap();
            let engine = gexlake::metrics::engine::Engine {
                jobs: 2,
                cluster: Some(gexlake::cluster::Cluster::parse(&cluster, 4).unwrap()),
            };
            let ctx = gexlake::analyst::session(&location, engine).await.unwrap();
            let plan = ctx
                .sql("SELECT count(*) FROM strikes")
                .await
                .unwrap()
                .create_physical_plan()
                .await
                .unwrap();
            assert_eq!(plan.name(), "DistributedQueryExec");
        });
        let sql = [
            "sql",
            "--lake",
            lake_s,
            "--cluster",
            &cluster,
            "--format",
            "csv",
            "SELECT ticker, count(*) AS n FROM strikes GROUP BY ticker ORDER BY ticker LIMIT 3",
        ];
        let mut cmd = isolated_gexlake();
        cmd.args(sql);
        let out = output_within(&mut cmd, Duration::from_secs(120), "sql on the cluster");
        let clustered = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut cmd = isolated_gexlake();
        cmd.args(&sql[..3]).args(&sql[5..]);
        let here = output_within(&mut cmd, Duration::from_secs(120), "sql here");
        assert_eq!(clustered, String::from_utf8_lossy(&here.stdout));
        assert_eq!(clustered.lines().count(), 4, "{clustered}");

        // What Ballista cannot run distributed is named.
        let (code, stderr) = gexlake(&[
            "sql",
            "--lake",
            lake_s,
            "--cluster",
            &cluster,
            "SELECT count(*) FROM strikes s JOIN information_schema.tables t ON t.table_name = s.ticker",
        ]);
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains(
                "cannot run a query that reads information_schema together with other tables"
            ),
            "{stderr}"
        );
    }

    #[test]
    fn an_unreachable_scheduler_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let cluster = format!("df://127.0.0.1:{}", free_port());
        let (code, stderr) = gexlake(&[
            "sql",
            "--lake",
            lake.to_str().unwrap(),
            "--cluster",
            &cluster,
            "SELECT 1",
        ]);
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains(&format!("cannot reach the scheduler at {cluster}")),
            "{stderr}"
        );
    }

    #[test]
    fn an_executor_without_gexlake_functions_fails_naming_the_function() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        archives(&input, &[day("2026-02-05")]);
        let lake = dir.path().join("lake");
        let lake_s = lake.to_str().unwrap();
        gexlake_ok(&["ingest", input.to_str().unwrap(), "--lake", lake_s]);
        let (_scheduler, port) = scheduler(dir.path());
        // Ballista's stock executor, in this process: DataFusion's functions only.
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
            let client = SchedulerGrpcClient::connect(format!("http://127.0.0.1:{port}"))
                .await
                .unwrap();
            ballista_executor::new_standalone_executor(
                client,
                2,
                ballista_core::serde::BallistaCodec::default(),
            )
            .await
            .unwrap();
        });
        let cluster = format!("df://127.0.0.1:{port}");
        let (code, stderr) = gexlake(&[
            "metrics",
            "--lake",
            lake_s,
            "--cluster",
            &cluster,
            "--date",
            "2026-02-05",
        ]);
        assert_eq!(code, 1, "{stderr}");
        let functions = [
            "exact_sum",
            "count_codes",
            "gamma_flip",
            "top_walls",
            "gex_slope",
        ];
        assert!(
            functions
                .iter()
                .any(|f| stderr.contains(&format!("does not have the function `{f}`"))),
            "no error names one of {functions:?}:\n{stderr}"
        );
        assert!(!lake.join("dealer_metrics").exists(), "nothing written");
        drop(rt);
    }
}
