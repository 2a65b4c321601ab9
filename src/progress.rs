//! Progress for long work: a bar on a terminal, and heartbeat log lines every
//! 60 seconds and every 25 items whatever the terminal (A3's heartbeat).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tracing::info;

use crate::logging::progress_bars;

/// Log a heartbeat after this many items.
pub const HEARTBEAT_ITEMS: u64 = 25;
/// Log a heartbeat at least this often.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(60);

/// A progress bar, drawn only where [`progress_bars`] allows.
#[derive(Clone)]
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar counting `total` items of work named `what`.
    pub fn files(total: u64, what: &str) -> Self {
        let Some(bars) = progress_bars().filter(|_| total > 0) else {
            return Progress(None);
        };
        let bar = bars.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (eta {eta})",
            )
            .expect("valid template"),
        );
        bar.set_prefix(what.to_string());
        Progress(Some(bar))
    }

    /// One more item done; `message` describes the totals so far.
    pub fn advance(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_string());
            bar.inc(1);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
            if let Some(bars) = progress_bars() {
                bars.remove(bar);
            }
        }
    }
}

struct HeartbeatState {
    what: String,
    total: u64,
    done: AtomicU64,
    started: Instant,
    last_message: Mutex<String>,
}

impl HeartbeatState {
    fn log(&self) {
        let done = self.done.load(Ordering::Relaxed);
        let percent = if self.total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / self.total as f64
        };
        let message = self
            .last_message
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        info!(
            stage = %self.what,
            done,
            total = self.total,
            percent = format!("{percent:.1}"),
            elapsed_s = self.started.elapsed().as_secs(),
            "heartbeat: {message}"
        );
    }
}

/// Logs progress every [`HEARTBEAT_ITEMS`] items and every [`HEARTBEAT_INTERVAL`].
#[derive(Clone)]
pub struct Heartbeat {
    state: Arc<HeartbeatState>,
    timer: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Heartbeat {
    /// Starts the timer (needs a Tokio runtime).
    pub fn start(what: &str, total: u64) -> Self {
        Self::every(what, total, HEARTBEAT_INTERVAL)
    }

    /// Like [`Heartbeat::start`], logging at least every `interval`.
    fn every(what: &str, total: u64, interval: Duration) -> Self {
        let state = Arc::new(HeartbeatState {
            what: what.to_string(),
            total,
            done: AtomicU64::new(0),
            started: Instant::now(),
            last_message: Mutex::new(String::new()),
        });
        let timer_state = state.clone();
        let timer = tokio::spawn(async move {
            let mut interval = tokio::time::interval(interval);
            interval.tick().await;
            loop {
                interval.tick().await;
                timer_state.log();
            }
        });
        Heartbeat {
            state,
            timer: Arc::new(Mutex::new(Some(timer))),
        }
    }

    /// One more item done.
    pub fn tick(&self, message: &str) {
        if let Ok(mut m) = self.state.last_message.lock() {
            *m = message.to_string();
        }
        let done = self.state.done.fetch_add(1, Ordering::Relaxed) + 1;
        if done.is_multiple_of(HEARTBEAT_ITEMS) {
            self.state.log();
        }
    }

    /// Describes the item in progress (shown by the next heartbeat) without counting one
    /// done: a long item, such as a download, shows how far it got.
    pub fn note(&self, message: &str) {
        if let Ok(mut m) = self.state.last_message.lock() {
            m.clear();
            m.push_str(message);
        }
    }

    /// Stops the timer.
    pub fn stop(&self) {
        if let Some(t) = self.timer.lock().ok().and_then(|mut t| t.take()) {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::tests::Captured;

    /// The heartbeat lines logged so far.
    fn heartbeats(captured: &Captured) -> Vec<serde_json::Value> {
        captured
            .lines()
            .into_iter()
            .filter(|l| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("heartbeat:"))
            })
            .collect()
    }

    #[tokio::test]
    async fn a_heartbeat_every_25_items_with_count_and_percent() {
        let captured = Captured::default();
        let _guard = tracing::subscriber::set_default(captured.json_subscriber());
        let heartbeat = Heartbeat::start("ingest", 60);
        for i in 1..=60 {
            heartbeat.tick(&format!("file {i} done"));
        }
        heartbeat.stop();
        let lines = heartbeats(&captured);
        let got: Vec<(u64, &str, &str)> = lines
            .iter()
            .map(|l| {
                (
                    l["done"].as_u64().unwrap(),
                    l["percent"].as_str().unwrap(),
                    l["message"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (25, "41.7", "heartbeat: file 25 done"),
                (50, "83.3", "heartbeat: file 50 done"),
            ]
        );
        assert!(
            lines
                .iter()
                .all(|l| l["stage"] == "ingest" && l["total"] == 60)
        );
    }

    #[tokio::test]
    async fn a_heartbeat_every_interval_shows_the_item_in_progress_until_stopped() {
        let captured = Captured::default();
        let _guard = tracing::subscriber::set_default(captured.json_subscriber());
        let heartbeat = Heartbeat::every("ftp", 2, Duration::from_millis(50));
        heartbeat.tick("a.zip downloaded");
        heartbeat.note("b.zip: 2097152 of 4194304 bytes");
        tokio::time::sleep(Duration::from_millis(400)).await;
        heartbeat.stop();
        let at_stop = heartbeats(&captured);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            heartbeats(&captured).len(),
            at_stop.len(),
            "a heartbeat after stop()"
        );
        // The timer logged without any item being done, with the item in progress.
        assert!(!at_stop.is_empty());
        for line in &at_stop {
            assert_eq!(
                line["message"],
                "heartbeat: b.zip: 2097152 of 4194304 bytes"
            );
            assert_eq!(
                (line["done"].as_u64(), line["total"].as_u64()),
                (Some(1), Some(2))
            );
            assert_eq!(line["percent"], "50.0");
            assert_eq!(line["stage"], "ftp");
        }
    }
}
