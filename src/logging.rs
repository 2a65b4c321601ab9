//! Logs to stderr through `tracing`: human text on a terminal, one JSON object
//! per line with `--log-format json` (fit for Cloud Logging: each line carries
//! the `severity` it reads). `--log-level` sets the default; `RUST_LOG`
//! overrides it.
//!
//! This module owns stderr, so it also holds the progress bars drawn there:
//! a log line hides them while it is written, and [`crate::progress`] draws
//! on them only when [`progress_bars`] allows.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{MultiProgress, ProgressDrawTarget};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{self, Format, FormatEvent, FormatFields, Json, JsonFields};
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

static PROGRESS_ALLOWED: AtomicBool = AtomicBool::new(false);

/// The progress bars on stderr, whether or not any is drawn.
fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// Where progress bars go, when they may be drawn: text logs on a terminal.
pub fn progress_bars() -> Option<&'static MultiProgress> {
    PROGRESS_ALLOWED.load(Ordering::Relaxed).then(bars)
}

/// Installs the global subscriber. Call once, before any work.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!(
            "warn,gexlake={level},gexlake_udfs={level},ballista_scheduler={level},ballista_executor={level}"
        )))
        // suppaftp logs the FTP `PASS` command at trace level: never let a secret through.
        .add_directive("suppaftp=info".parse().expect("valid directive"));
    let terminal = io::stderr().is_terminal();
    PROGRESS_ALLOWED.store(terminal && format == LogFormat::Text, Ordering::Relaxed);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(SuspendingStderr);
    let result = match format {
        LogFormat::Text => builder.with_ansi(terminal).with_target(false).try_init(),
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(CloudJson::default())
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}

/// tracing's JSON lines (the event's fields flattened beside `level`, `target` and
/// `message`) with Cloud Logging's `severity` and `time` put first, and the same
/// instant as `timestamp`: Cloud Logging takes a JSON line's level from `severity`
/// only (a line without it is DEFAULT, where no filter or alert on WARNING or ERROR
/// finds it) and its time from `time` as RFC 3339 text.
struct CloudJson(Format<Json, ()>);

impl Default for CloudJson {
    fn default() -> Self {
        CloudJson(
            tracing_subscriber::fmt::format()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .without_time(),
        )
    }
}

/// Cloud Logging's `LogSeverity` name of a tracing level.
fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

impl<S, N> FormatEvent<S, N> for CloudJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::with_capacity(256);
        self.0
            .format_event(ctx, format::Writer::new(&mut line), event)?;
        let severity = severity(event.metadata().level());
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"severity\":\"{severity}\",\"time\":\"{time}\",\"timestamp\":\"{time}\",{rest}"
            ),
            None => writer.write_str(&line),
        }
    }
}

/// Stderr that hides the progress bar while a log line is written.
#[derive(Clone, Copy)]
struct SuspendingStderr;

impl<'a> MakeWriter<'a> for SuspendingStderr {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(Vec::with_capacity(256))
    }
}

/// Buffers one event and writes it in one piece.
struct LineWriter(Vec<u8>);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let line = std::mem::take(&mut self.0);
        bars().suspend(|| {
            let _ = io::stderr().lock().write_all(&line);
        });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer into a shared buffer, so a test can read what was logged.
    #[derive(Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        /// A subscriber logging every level into this buffer as gexlake's JSON lines.
        pub(crate) fn json_subscriber(&self) -> impl Subscriber + Send + Sync + 'static {
            let writer = self.clone();
            tracing_subscriber::fmt()
                .with_max_level(Level::TRACE)
                .with_writer(move || writer.clone())
                .fmt_fields(JsonFields::new())
                .event_format(CloudJson::default())
                .finish()
        }

        /// What was logged: one JSON object per line.
        pub(crate) fn lines(&self) -> Vec<serde_json::Value> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
                .collect()
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_cloud_logging_severity_and_flattened_fields() {
        let captured = Captured::default();
        tracing::subscriber::with_default(captured.json_subscriber(), || {
            tracing::error!(file = "a.zip", "failed");
            tracing::warn!(rows_rejected = 3_u64, "rejected");
            tracing::info!(ingest_s = %"1.25", "run summary");
            tracing::debug!("detail");
            tracing::trace!("finer");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines = captured.lines();
        let got: Vec<(&str, &str, &str)> = lines
            .iter()
            .map(|l| {
                (
                    l["severity"].as_str().unwrap(),
                    l["level"].as_str().unwrap(),
                    l["message"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("ERROR", "ERROR", "failed"),
                ("WARNING", "WARN", "rejected"),
                ("INFO", "INFO", "run summary"),
                ("DEBUG", "DEBUG", "detail"),
                ("DEBUG", "TRACE", "finer"),
            ]
        );
        assert_eq!(lines[0]["file"], "a.zip");
        assert_eq!(lines[1]["rows_rejected"], 3);
        assert_eq!(lines[2]["ingest_s"], "1.25");
        assert!(
            text.starts_with("{\"severity\":\"ERROR\",\"time\":"),
            "{text}"
        );
        for line in &lines {
            let time = line["time"].as_str().unwrap();
            chrono::DateTime::parse_from_rfc3339(time).expect("time is RFC 3339");
            assert_eq!(line["timestamp"], time);
        }
    }
}
