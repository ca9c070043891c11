//! Which series of a scrape are kept: a default set that says how a
//! Rocket.Chat server (and the host under it, through node exporter)
//! carried the load, plus what `--scrape-match REGEX` adds, at most
//! [`MAX_SERIES`] per source.

use regex::Regex;

pub use crate::results::target::{default_kind, guess_kind};

/// Series kept per source at most: a Rocket.Chat with many REST
/// endpoints and user agents exposes thousands of summary series.
pub const MAX_SERIES: usize = 2000;

/// The series a run keeps.
#[derive(Clone, Debug, Default)]
pub struct Selector {
    /// `--scrape-match`: sample names matching any of these are kept too.
    pub extra: Vec<Regex>,
}

impl Selector {
    /// Whether the sample called `name` is kept.
    pub fn keeps(&self, name: &str) -> bool {
        default_kind(name).is_some() || self.extra.iter().any(|r| r.is_match(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::parse::parse;

    const RC: &str = include_str!("../../tests/fixtures/rocketchat-metrics.txt");

    #[test]
    fn defaults_keep_what_tells_how_the_server_carried_the_load() {
        let s = Selector::default();
        let kept = parse(RC, &|n| s.keeps(n)).unwrap();
        let names: std::collections::BTreeSet<&str> =
            kept.iter().map(|x| x.name.as_str()).collect();
        for want in [
            "process_cpu_seconds_total",
            "nodejs_eventloop_lag_seconds",
            "nodejs_eventloop_lag_p99_seconds",
            "rocketchat_ddp_sessions_count",
            "rocketchat_message_sent",
            "rocketchat_ddp_rate_limit_exceeded",
            "rocketchat_rest_api",
            "rocketchat_rest_api_count",
            "rocketchat_meteor_methods_sum",
        ] {
            assert!(names.contains(want), "{want} missing from {names:?}");
        }
        for dropped in [
            "nodejs_gc_duration_seconds_bucket",
            "nodejs_heap_space_size_used_bytes",
            "rocketchat_callbacks",
            "rocketchat_meteor_subscriptions_count",
            "rocketchat_info",
        ] {
            assert!(!names.contains(dropped), "{dropped} kept");
        }
        // 7 quantiles + sum + count for chat.postMessage, 2 + 2 and 1 + 2.
        let rest = kept
            .iter()
            .filter(|x| x.name.starts_with("rocketchat_rest_api"))
            .count();
        assert_eq!(rest, 9 + 4 + 3);
    }

    #[test]
    fn scrape_match_adds_series_by_name() {
        let s = Selector {
            extra: vec![Regex::new("^rocketchat_meteor_subscriptions").unwrap()],
        };
        let kept = parse(RC, &|n| s.keeps(n)).unwrap();
        assert!(
            kept.iter()
                .any(|x| x.name == "rocketchat_meteor_subscriptions_count")
        );
    }
}
