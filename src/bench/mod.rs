//! `netbase bench`: performance claims with their baselines, measured in the same run.

pub mod report;

pub use report::{median, quantile, rates, Report, NETBASE};
