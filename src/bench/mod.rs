//! `netbase bench`: performance claims with their baselines, measured in the same run.

pub mod echo;
pub mod fib4;
pub mod neigh4;
pub mod netlink;
pub mod report;

pub use report::{median, quantile, rates, Report, NETBASE};
