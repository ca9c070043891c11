//! `run --scrape URL`: the target's own Prometheus metrics sampled once
//! per interval while the load runs, so the results say how the server
//! carried it (CPU, event-loop lag, sessions) beside what the VUs saw.
//!
//! Each URL is scraped by its own task on the run's runtime (parsing on
//! the blocking pool), which keeps only its latest completed sample; the
//! collector thread takes the latest when it closes an interval
//! ([`collect::TargetCollector`]). A failed scrape is counted and noted,
//! never fatal: the load and its measurements do not depend on it.

mod collect;
mod fetch;
pub mod parse;
pub mod select;
mod url;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use collect::TargetCollector;
pub use select::{MAX_SERIES, Selector};
pub use url::ScrapeUrl;

use crate::results::SeriesKind;
use crate::results::target::series_key;
use fetch::Fetcher;
use parse::{ParseError, Sample};

/// How often each URL is scraped: once per interval.
pub const PERIOD: Duration = Duration::from_secs(1);
/// A scrape not answered within this is a failure (below the period, so
/// a slow target never stacks scrapes).
pub const TIMEOUT: Duration = Duration::from_millis(800);
/// Where in each interval a scrape starts.
const PHASE: Duration = Duration::from_millis(100);

/// What `--scrape` and `--scrape-match` ask for.
#[derive(Clone, Debug, Default)]
pub struct ScrapeConfig {
    pub urls: Vec<ScrapeUrl>,
    pub selector: Selector,
}

impl ScrapeConfig {
    /// Refuses two URLs of one `host:port`: their series would mix.
    pub fn new(urls: Vec<ScrapeUrl>, selector: Selector) -> Result<ScrapeConfig, String> {
        for (i, u) in urls.iter().enumerate() {
            if let Some(other) = urls[..i].iter().find(|o| o.source() == u.source()) {
                return Err(format!(
                    "--scrape {} and --scrape {} name the same source {}: give each host:port once",
                    other.as_str(),
                    u.as_str(),
                    u.source()
                ));
            }
        }
        Ok(ScrapeConfig { urls, selector })
    }
}

/// Why one scrape failed (the text is kept as `last_error`).
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("{0}")]
    Request(String),
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("the body is not UTF-8 text")]
    NotText,
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("parsing failed: {0}")]
    Task(String),
}

/// The latest completed scrape of one source.
#[derive(Debug)]
pub struct SourceSample {
    /// Counts completed scrapes, so the collector takes each once.
    pub seq: u64,
    /// When it completed, seconds from the start of measuring.
    pub at_s: f64,
    /// Kept series by key.
    pub series: BTreeMap<String, Sample>,
}

/// One source as its task leaves it.
#[derive(Debug)]
pub struct SourceState {
    pub url: ScrapeUrl,
    pub scrapes: u64,
    pub failures: u64,
    pub first_error: Option<String>,
    pub last_error: Option<String>,
    /// Series found when more than [`MAX_SERIES`] were (the first kept).
    pub cut_from: Option<usize>,
    pub latest: Option<Arc<SourceSample>>,
}

type Shared = Arc<Mutex<Vec<SourceState>>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, Vec<SourceState>> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The running scrapers of one measurement; [`Scraping::stop`] ends them.
pub struct Scraping {
    state: Shared,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Scraping {
    /// Starts one task per URL on the current runtime; times count from
    /// `start` (the start of measuring).
    pub fn start(config: &ScrapeConfig, start: Instant) -> Scraping {
        let state: Shared = Arc::new(Mutex::new(
            config
                .urls
                .iter()
                .map(|url| SourceState {
                    url: url.clone(),
                    scrapes: 0,
                    failures: 0,
                    first_error: None,
                    last_error: None,
                    cut_from: None,
                    latest: None,
                })
                .collect(),
        ));
        let selector = Arc::new(config.selector.clone());
        let tasks = config
            .urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let (state, selector, url) = (state.clone(), selector.clone(), url.clone());
                tokio::spawn(scrape_loop(i, url, selector, state, start))
            })
            .collect();
        Scraping { state, tasks }
    }

    /// What the collector reads.
    pub fn view(&self) -> ScrapeView {
        ScrapeView(self.state.clone())
    }

    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// A read-only look at the scrapers' state, for the collector thread.
#[derive(Clone)]
pub struct ScrapeView(Shared);

impl ScrapeView {
    /// Runs `f` on every source's state (under a lock held briefly).
    pub fn with<T>(&self, f: impl FnOnce(&[SourceState]) -> T) -> T {
        f(&lock(&self.0))
    }
}

async fn scrape_loop(
    i: usize,
    url: ScrapeUrl,
    selector: Arc<Selector>,
    state: Shared,
    start: Instant,
) {
    let fetcher = Fetcher::new(url);
    // A tenth into each interval: a scrape within TIMEOUT then completes
    // before the collector closes the interval, so each line gets one.
    let first = tokio::time::Instant::from_std(start) + PHASE;
    let mut tick = tokio::time::interval_at(first, PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut seq = 0;
    loop {
        tick.tick().await;
        let result = match &fetcher {
            Ok(f) => scrape_once(f, &selector).await,
            Err(e) => Err(ScrapeError::Request(e.to_string())),
        };
        let at_s = start.elapsed().as_secs_f64();
        let mut all = lock(&state);
        let Some(s) = all.get_mut(i) else { return };
        s.scrapes += 1;
        match result {
            Ok((series, cut_from)) => {
                seq += 1;
                s.latest = Some(Arc::new(SourceSample { seq, at_s, series }));
                s.cut_from = s.cut_from.max(cut_from);
            }
            Err(e) => {
                s.failures += 1;
                let text = e.to_string();
                s.first_error.get_or_insert_with(|| text.clone());
                s.last_error = Some(text);
            }
        }
    }
}

/// One scrape: the kept series, and how many there were when cut.
async fn scrape_once(
    fetcher: &Fetcher,
    selector: &Arc<Selector>,
) -> Result<(BTreeMap<String, Sample>, Option<usize>), ScrapeError> {
    let body = fetcher.get(TIMEOUT).await?;
    let selector = selector.clone();
    tokio::task::spawn_blocking(move || select(&body, &selector))
        .await
        .map_err(|e| ScrapeError::Task(e.to_string()))?
}

/// The kept series of a body, at most [`MAX_SERIES`] (the first by key).
fn select(
    body: &[u8],
    selector: &Selector,
) -> Result<(BTreeMap<String, Sample>, Option<usize>), ScrapeError> {
    let text = std::str::from_utf8(body).map_err(|_| ScrapeError::NotText)?;
    let samples = parse::parse(text, &|name| selector.keeps(name))?;
    let mut series: BTreeMap<String, Sample> = samples
        .into_iter()
        .map(|mut s| {
            // Our serve writes `rocketchat_message_sent` untyped to keep
            // Rocket.Chat's name; it is still a counter.
            if s.kind == SeriesKind::Untyped {
                s.kind = select::default_kind(&s.name).unwrap_or(s.kind);
            }
            (series_key(&s.name, &s.labels), s)
        })
        .collect();
    let found = series.len();
    if found <= MAX_SERIES {
        return Ok((series, None));
    }
    let keep: BTreeMap<String, Sample> = std::mem::take(&mut series)
        .into_iter()
        .take(MAX_SERIES)
        .collect();
    Ok((keep, Some(found)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_cut_at_the_bound() {
        let mut text = String::from("# TYPE many_total counter\n");
        for i in 0..MAX_SERIES + 5 {
            text.push_str(&format!("many_total{{i=\"{i:05}\"}} 1\n"));
        }
        let selector = Selector {
            extra: vec![regex::Regex::new("^many").unwrap()],
        };
        let (series, cut) = select(text.as_bytes(), &selector).unwrap();
        assert_eq!((series.len(), cut), (MAX_SERIES, Some(MAX_SERIES + 5)));
        assert!(series.contains_key(r#"many_total{i="00000"}"#));
    }

    #[test]
    fn two_urls_of_one_source_are_refused() {
        let urls = vec![
            ScrapeUrl::parse("http://h:9458/metrics").unwrap(),
            ScrapeUrl::parse("http://h:9458/other").unwrap(),
        ];
        let e = ScrapeConfig::new(urls, Selector::default()).unwrap_err();
        assert!(e.contains("same source h:9458"), "{e}");
    }
}
