//! The tile metrics object: [`METRIC_SLOTS`] `u64` words ([`TILE_METRICS_BYTES`]), described
//! by a per-kind schema.
//!
//! A tile kind declares its metrics as a `&'static [MetricDef]`; metric `i` lives in word `i`.
//! The schema is not stored in shared memory: readers (`netbase metrics`, the supervisor) know
//! a tile's kind from the plan and take the same static table, so the words stay the only
//! shared state and a counter bump is one store.
//!
//! The tile is the only writer: [`MetricsWriter::add`] is a Relaxed load and store, not a
//! locked read-modify-write. Readers load Relaxed; each counter is individually atomic, and
//! no ordering between counters is promised.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::ObjectError;
use crate::region::Region;
use crate::tables::geometry::TILE_METRICS_BYTES;

/// Number of counters in a metrics object.
pub const METRIC_SLOTS: usize = (TILE_METRICS_BYTES / 8) as usize;

/// Prometheus semantics of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up (wrapping after 2^64).
    Counter,
    /// Set to the current value of something.
    Gauge,
}

impl MetricKind {
    /// The Prometheus `# TYPE` word.
    pub fn prometheus(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
        }
    }
}

/// One metric of a tile kind's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// `[a-z_][a-z0-9_]*`; exported as `netbase_<name>`.
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricKind,
}

/// Checks that `defs` fit the object and make valid, distinct Prometheus names.
pub fn validate_schema(defs: &[MetricDef]) -> Result<(), ObjectError> {
    if defs.len() > METRIC_SLOTS {
        return Err(ObjectError::BadSchema(format!(
            "{} metrics, at most {METRIC_SLOTS}",
            defs.len()
        )));
    }
    for (i, d) in defs.iter().enumerate() {
        let mut chars = d.name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !first_ok || !rest_ok {
            return Err(ObjectError::BadSchema(format!(
                "metric name {:?} is not [a-z_][a-z0-9_]*",
                d.name
            )));
        }
        if defs[..i].iter().any(|e| e.name == d.name) {
            return Err(ObjectError::BadSchema(format!(
                "metric {:?} declared twice",
                d.name
            )));
        }
    }
    Ok(())
}

fn words_of<'a>(region: &Region<'a>) -> Result<&'a [AtomicU64], ObjectError> {
    let words = region.words();
    if words.len() < METRIC_SLOTS {
        return Err(ObjectError::TooSmall {
            needed: METRIC_SLOTS * 8,
            found: words.len() * 8,
        });
    }
    Ok(&words[..METRIC_SLOTS])
}

/// The tile's side: bumps and sets counters by index.
#[derive(Debug, Clone, Copy)]
pub struct MetricsWriter<'a> {
    words: &'a [AtomicU64],
}

impl<'a> MetricsWriter<'a> {
    /// The writer over a writable metrics object, for a tile whose kind declares `defs`.
    pub fn new(region: Region<'a>, defs: &[MetricDef]) -> Result<Self, ObjectError> {
        if !region.is_writable() {
            return Err(ObjectError::ReadOnly);
        }
        validate_schema(defs)?;
        Ok(MetricsWriter {
            words: words_of(&region)?,
        })
    }

    /// Adds `n` to counter `index`. Indexes past [`METRIC_SLOTS`] panic: they are constants
    /// of the tile kind, so that is a programming error.
    #[inline]
    pub fn add(&self, index: usize, n: u64) {
        let w = &self.words[index];
        w.store(w.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub fn inc(&self, index: usize) {
        self.add(index, 1);
    }

    /// Sets gauge `index`.
    #[inline]
    pub fn set(&self, index: usize, value: u64) {
        self.words[index].store(value, Relaxed);
    }

    pub fn get(&self, index: usize) -> u64 {
        self.words[index].load(Relaxed)
    }
}

/// A reader's side (the object may be mapped read-only).
#[derive(Debug, Clone, Copy)]
pub struct MetricsReader<'a> {
    words: &'a [AtomicU64],
}

impl<'a> MetricsReader<'a> {
    pub fn new(region: Region<'a>) -> Result<Self, ObjectError> {
        Ok(MetricsReader {
            words: words_of(&region)?,
        })
    }

    pub fn get(&self, index: usize) -> u64 {
        self.words[index].load(Relaxed)
    }

    /// Every metric of `defs` with its current value.
    pub fn read<'d>(&self, defs: &'d [MetricDef]) -> Vec<(&'d MetricDef, u64)> {
        defs.iter()
            .zip(self.words)
            .map(|(d, w)| (d, w.load(Relaxed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::HeapRegion;

    const DEFS: &[MetricDef] = &[
        MetricDef {
            name: "polls_total",
            help: "polls",
            kind: MetricKind::Counter,
        },
        MetricDef {
            name: "depth",
            help: "queue depth",
            kind: MetricKind::Gauge,
        },
    ];

    #[test]
    fn writer_bumps_and_reader_reads() {
        let heap = HeapRegion::zeroed(TILE_METRICS_BYTES as usize);
        let w = MetricsWriter::new(heap.region(), DEFS).unwrap();
        w.inc(0);
        w.add(0, 4);
        w.set(1, 17);
        w.set(1, 3);
        let r = MetricsReader::new(heap.read_only()).unwrap();
        let values: Vec<_> = r.read(DEFS).into_iter().map(|(d, v)| (d.name, v)).collect();
        assert_eq!(values, [("polls_total", 5), ("depth", 3)]);
    }

    #[test]
    fn refuses_read_only_short_and_bad_schemas() {
        let heap = HeapRegion::zeroed(TILE_METRICS_BYTES as usize);
        assert_eq!(
            MetricsWriter::new(heap.read_only(), DEFS).unwrap_err(),
            ObjectError::ReadOnly
        );
        let short = HeapRegion::zeroed(8);
        assert!(matches!(
            MetricsReader::new(short.region()),
            Err(ObjectError::TooSmall { .. })
        ));
        let twice = [DEFS[0], DEFS[0]];
        assert!(validate_schema(&twice).is_err());
        let bad = [MetricDef {
            name: "Bad-Name",
            help: "",
            kind: MetricKind::Gauge,
        }];
        assert!(validate_schema(&bad).is_err());
    }
}
