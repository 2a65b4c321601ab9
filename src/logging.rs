//! Logs to stderr through `tracing`: human text on a terminal, one JSON object
//! per line with `--log-format json` (fit for Cloud Logging). `--log-level`
//! sets the default; `RUST_LOG` overrides it.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

static PROGRESS_ALLOWED: AtomicBool = AtomicBool::new(false);

/// Whether a progress bar may be drawn: text logs on a terminal.
pub fn progress_allowed() -> bool {
    PROGRESS_ALLOWED.load(Ordering::Relaxed)
}

/// Installs the global subscriber. Call once, before any work.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,gexlake={level},gexlake_udfs={level}")))
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
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
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
        crate::progress::suspend(|| {
            let _ = io::stderr().lock().write_all(&line);
        });
    }
}
