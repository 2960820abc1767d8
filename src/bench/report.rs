//! Benchmark results: rows of (case, implementation, metrics), printed as a table with the
//! ratios of netbase to each baseline, or as one JSON object.
//!
//! JSON shape (shared by every `netbase bench … --json`):
//! `{"bench": NAME, "rows": [{"case": CASE, "impl": IMPL, <metric>: <number>, …}, …]}`,
//! metric names carrying their unit (`lookups_per_sec`, `bytes`, `ns_p50`, …); `impl` is
//! `netbase` for ours and the baseline's name otherwise.

use std::time::Instant;

use serde_json::{Map, Value};

/// The implementation name of netbase's own rows.
pub const NETBASE: &str = "netbase";

#[derive(Debug, Clone)]
pub struct Row {
    pub case: String,
    pub implementation: String,
    pub metrics: Vec<(String, f64)>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub bench: String,
    pub rows: Vec<Row>,
    /// Notes printed under the text table (machine, parameters); not part of the JSON rows.
    pub notes: Vec<String>,
    /// (netbase metric, baseline metric) pairs whose ratio is printed too where the baseline
    /// has no metric of the first name (see [`Report::compare`]).
    pub cross: Vec<(String, String)>,
}

impl Report {
    pub fn new(bench: &str) -> Self {
        Report {
            bench: bench.to_string(),
            rows: Vec::new(),
            notes: Vec::new(),
            cross: Vec::new(),
        }
    }

    /// Also prints netbase's `ours` ÷ a baseline's `theirs`, for a baseline that has no
    /// `ours`: e.g. netbase's burst lookups against a baseline's only way to look up many
    /// addresses, its one-at-a-time loop.
    pub fn compare(&mut self, ours: &str, theirs: &str) {
        self.cross.push((ours.to_string(), theirs.to_string()));
    }

    pub fn push(&mut self, case: &str, implementation: &str, metrics: &[(&str, f64)]) {
        self.rows.push(Row {
            case: case.to_string(),
            implementation: implementation.to_string(),
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn to_json(&self) -> Value {
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut m = Map::new();
                m.insert("case".into(), Value::from(r.case.clone()));
                m.insert("impl".into(), Value::from(r.implementation.clone()));
                for (k, v) in &r.metrics {
                    m.insert(k.clone(), Value::from(*v));
                }
                Value::Object(m)
            })
            .collect();
        let mut o = Map::new();
        o.insert("bench".into(), Value::from(self.bench.clone()));
        o.insert("rows".into(), Value::Array(rows));
        Value::Object(o)
    }

    /// The value of `metric` for (case, impl).
    pub fn get(&self, case: &str, implementation: &str, metric: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.case == case && r.implementation == implementation)
            .and_then(|r| r.metrics.iter().find(|(k, _)| k == metric).map(|(_, v)| *v))
    }

    /// A table per case: each implementation's metrics, and netbase ÷ baseline for each.
    pub fn render(&self) -> String {
        let mut out = format!("bench {}\n", self.bench);
        let mut cases: Vec<&str> = Vec::new();
        for r in &self.rows {
            if !cases.contains(&r.case.as_str()) {
                cases.push(&r.case);
            }
        }
        for case in cases {
            out.push_str(&format!("\n{case}\n"));
            let rows: Vec<&Row> = self.rows.iter().filter(|r| r.case == case).collect();
            for r in &rows {
                let metrics: Vec<String> = r
                    .metrics
                    .iter()
                    .map(|(k, v)| format!("{k} {}", human(*v)))
                    .collect();
                out.push_str(&format!(
                    "  {:<22} {}\n",
                    r.implementation,
                    metrics.join("  ")
                ));
            }
            let ours = rows.iter().find(|r| r.implementation == NETBASE);
            if let Some(ours) = ours {
                for base in rows.iter().filter(|r| r.implementation != NETBASE) {
                    let theirs = |k: &str| base.metrics.iter().find(|(bk, _)| bk == k).map(|m| m.1);
                    let ratios: Vec<String> = ours
                        .metrics
                        .iter()
                        // Rates only: for sizes and latencies "×" would read the wrong way.
                        .filter(|(k, _)| k.ends_with("_per_sec"))
                        .filter_map(|(k, v)| match theirs(k) {
                            Some(b) => (b != 0.0).then(|| format!("{k} x{:.2}", v / b)),
                            None => {
                                let (_, t) = self.cross.iter().find(|(o, _)| o == k)?;
                                let b = theirs(t).filter(|b| *b != 0.0)?;
                                Some(format!("{k}/{t} x{:.2}", v / b))
                            }
                        })
                        .collect();
                    if !ratios.is_empty() {
                        out.push_str(&format!(
                            "  netbase / {:<12} {}\n",
                            base.implementation,
                            ratios.join("  ")
                        ));
                    }
                }
            }
        }
        for n in &self.notes {
            out.push_str(&format!("\n{n}"));
        }
        out.push('\n');
        out
    }
}

/// 12.3M-style numbers for the text table.
fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The median of samples (the mean of the middle two for an even count); NaN when empty.
pub fn median(samples: &[f64]) -> f64 {
    let mut s: Vec<f64> = samples.iter().copied().filter(|v| !v.is_nan()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// The `q` quantile (0..=1) of samples, nearest-rank.
pub fn quantile(samples: &[f64], q: f64) -> f64 {
    let mut s: Vec<f64> = samples.to_vec();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let idx = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    s[idx]
}

/// Runs `round` `rounds` times; each call returns how many operations it did. Returns the
/// operations per second of each round (take the median: machines are noisy).
pub fn rates(rounds: usize, mut round: impl FnMut() -> u64) -> Vec<f64> {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            let ops = round();
            let secs = t.elapsed().as_secs_f64();
            if secs > 0.0 {
                ops as f64 / secs
            } else {
                f64::NAN
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quantiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.99), 4.0);
    }

    #[test]
    fn json_shape_and_ratios() {
        let mut r = Report::new("demo");
        r.push("host", NETBASE, &[("lookups_per_sec", 200.0)]);
        r.push("host", "linear", &[("lookups_per_sec", 100.0)]);
        let j = r.to_json();
        assert_eq!(j["bench"], "demo");
        assert_eq!(j["rows"][0]["impl"], "netbase");
        assert_eq!(j["rows"][1]["lookups_per_sec"], 100.0);
        assert!(
            r.render().contains("lookups_per_sec x2.00"),
            "{}",
            r.render()
        );
    }

    #[test]
    fn cross_metric_ratios_only_where_the_baseline_lacks_the_metric() {
        let mut r = Report::new("demo");
        r.compare("burst_lookups_per_sec", "lookups_per_sec");
        r.push(
            "big",
            NETBASE,
            &[("lookups_per_sec", 30.0), ("burst_lookups_per_sec", 90.0)],
        );
        r.push("big", "trie", &[("lookups_per_sec", 10.0)]);
        r.push(
            "big",
            "batched",
            &[("lookups_per_sec", 20.0), ("burst_lookups_per_sec", 45.0)],
        );
        let text = r.render();
        assert!(text.contains("netbase / trie         lookups_per_sec x3.00  burst_lookups_per_sec/lookups_per_sec x9.00"), "{text}");
        assert!(
            text.contains(
                "netbase / batched      lookups_per_sec x1.50  burst_lookups_per_sec x2.00\n"
            ),
            "{text}"
        );
    }
}
