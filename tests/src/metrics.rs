//! A `/metrics` text read as Prometheus reads it, so tests can ask for a series by name and
//! labels instead of matching text.

use std::collections::BTreeSet;

use prometheus_parse::{Scrape, Value};

/// One scrape of a process's `/metrics`.
pub struct Scraped {
    scrape: Scrape,
    text: String,
}

impl Scraped {
    pub fn parse(text: &str) -> Self {
        let lines = text.lines().map(|line| Ok(line.to_owned()));
        let scrape = Scrape::parse(lines).expect("a Prometheus text exposition");
        Self { scrape, text: text.to_owned() }
    }

    /// The text it was read from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether any series of `name` is exposed (a histogram by its base name).
    pub fn has(&self, name: &str) -> bool {
        self.scrape.samples.iter().any(|sample| sample.metric == name)
    }

    /// The label names the series of `name` carry (without a histogram's `le`).
    pub fn label_names(&self, name: &str) -> BTreeSet<String> {
        self.scrape
            .samples
            .iter()
            .filter(|sample| sample.metric == name)
            .flat_map(|sample| sample.labels.keys().map(|key| key.to_string()).collect::<Vec<_>>())
            .collect()
    }

    /// The sum of the series of `name` whose labels include every pair of `labels` (0 when
    /// none matches); a histogram's `_count` and `_sum` are series of their own.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.scrape
            .samples
            .iter()
            .filter(|sample| sample.metric == name)
            .filter(|sample| labels.iter().all(|(key, value)| sample.labels.get(key) == Some(*value)))
            .map(|sample| match &sample.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
                Value::Summary(_) => 0.0,
            })
            .sum()
    }
}
