//! What a traffic run reports: per-client tallies, the totals built from them, and the live
//! progress snapshots.

use std::time::Duration;

use serde::Serialize;

use super::histogram::Histogram;

/// Datagrams sent and never echoed (a duplicate echo does not make up for a lost one, because
/// `echoed` counts distinct sequence numbers).
pub fn lost(sent: u64, echoed: u64) -> u64 {
    sent.saturating_sub(echoed)
}

/// One client's counts at the end of a run.
#[derive(Clone, Debug, Default)]
pub struct ClientTally {
    /// The client's name.
    pub name: String,
    /// Datagrams the kernel accepted for sending.
    pub sent: u64,
    /// Distinct sequence numbers echoed intact.
    pub echoed: u64,
    /// Echoes of a sequence number already echoed.
    pub duplicates: u64,
    /// Echoes that failed verification (length, magic, client, fill, or a sequence number
    /// never sent).
    pub corrupt: u64,
    /// Errors the socket reported (e.g. `ECONNREFUSED` after an ICMP port unreachable).
    pub errors: u64,
    /// Round-trip times of the first echo of each datagram, ns.
    pub rtt: Histogram,
}

/// One client's results.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClientStats {
    /// The client's name (`c1`, `c2`, …).
    pub name: String,
    /// Datagrams sent.
    pub sent: u64,
    /// Distinct datagrams echoed intact.
    pub echoed: u64,
    /// `sent - echoed` after the drain time.
    pub lost: u64,
    /// Extra echoes of already echoed datagrams.
    pub duplicates: u64,
    /// Echoes that failed verification.
    pub corrupt: u64,
    /// Socket errors.
    pub errors: u64,
    /// Median round-trip time, ns (`None` without echoes).
    pub rtt_ns_p50: Option<u64>,
    /// 99th-percentile round-trip time, ns.
    pub rtt_ns_p99: Option<u64>,
}

/// Results of a traffic run: totals over every client and the per-client breakdown.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TrafficStats {
    /// Datagrams sent.
    pub sent: u64,
    /// Distinct datagrams echoed intact.
    pub echoed: u64,
    /// `sent - echoed` after the drain time, summed per client.
    pub lost: u64,
    /// Extra echoes of already echoed datagrams.
    pub duplicates: u64,
    /// Echoes that failed verification.
    pub corrupt: u64,
    /// Socket errors.
    pub errors: u64,
    /// Median round-trip time over every client, ns.
    pub rtt_ns_p50: Option<u64>,
    /// 99th-percentile round-trip time over every client, ns.
    pub rtt_ns_p99: Option<u64>,
    /// Largest round-trip time seen, ns.
    pub rtt_ns_max: Option<u64>,
    /// How long the clients sent, s (shorter than asked when stopped early).
    pub send_secs: f64,
    /// The measurement window: from the end of the warm-up to the end of sending, s.
    pub window_secs: f64,
    /// Datagrams sent in the measurement window.
    pub window_sent: u64,
    /// Echoes received in the measurement window.
    pub window_echoed: u64,
    /// Whether the stop flag ended the run before its duration.
    pub stopped_early: bool,
    /// Per client, in the order given.
    pub clients: Vec<ClientStats>,
}

impl TrafficStats {
    /// Totals and percentiles from the per-client tallies; the window and timing fields are
    /// left for the caller.
    pub fn from_tallies(tallies: &[ClientTally]) -> TrafficStats {
        let mut all = Histogram::default();
        let mut s = TrafficStats::default();
        for t in tallies {
            all.merge(&t.rtt);
            let c = ClientStats {
                name: t.name.clone(),
                sent: t.sent,
                echoed: t.echoed,
                lost: lost(t.sent, t.echoed),
                duplicates: t.duplicates,
                corrupt: t.corrupt,
                errors: t.errors,
                rtt_ns_p50: t.rtt.quantile(0.50),
                rtt_ns_p99: t.rtt.quantile(0.99),
            };
            s.sent += c.sent;
            s.echoed += c.echoed;
            s.lost += c.lost;
            s.duplicates += c.duplicates;
            s.corrupt += c.corrupt;
            s.errors += c.errors;
            s.clients.push(c);
        }
        s.rtt_ns_p50 = all.quantile(0.50);
        s.rtt_ns_p99 = all.quantile(0.99);
        s.rtt_ns_max = all.max();
        s
    }

    /// Echoes per second over the measurement window (0 for an empty window).
    pub fn echo_pps(&self) -> f64 {
        per_sec(self.window_echoed, self.window_secs)
    }

    /// Datagrams sent per second over the measurement window.
    pub fn send_pps(&self) -> f64 {
        per_sec(self.window_sent, self.window_secs)
    }

    /// The client named `name`.
    pub fn client(&self, name: &str) -> Option<&ClientStats> {
        self.clients.iter().find(|c| c.name == name)
    }
}

fn per_sec(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// Running totals, handed to the progress callback about every
/// [`super::TrafficConfig::progress_interval`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// Since the run began.
    pub elapsed: Duration,
    /// Whether the clients are still sending (false while draining).
    pub sending: bool,
    /// Datagrams sent so far.
    pub sent: u64,
    /// Distinct datagrams echoed so far.
    pub echoed: u64,
    /// Duplicate echoes so far.
    pub duplicates: u64,
    /// Corrupt echoes so far.
    pub corrupt: u64,
    /// Socket errors so far.
    pub errors: u64,
    /// Echoes per second since the previous call.
    pub echo_pps: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(name: &str, sent: u64, echoed: u64, rtts: &[u64]) -> ClientTally {
        let mut rtt = Histogram::default();
        rtts.iter().for_each(|v| rtt.record(*v));
        ClientTally {
            name: name.into(),
            sent,
            echoed,
            duplicates: 1,
            corrupt: 2,
            errors: 3,
            rtt,
        }
    }

    #[test]
    fn loss_is_sent_minus_distinct_echoes_never_negative() {
        assert_eq!(lost(10, 7), 3);
        assert_eq!(lost(10, 10), 0);
        // Echoes of datagrams counted as not sent (e.g. a send error after the kernel queued
        // it) cannot make loss negative.
        assert_eq!(lost(5, 6), 0);
    }

    #[test]
    fn totals_sum_clients_and_percentiles_merge() {
        let s = TrafficStats::from_tallies(&[
            tally("c1", 100, 90, &[10, 20, 30]),
            tally("c2", 50, 50, &[40, 50]),
        ]);
        assert_eq!((s.sent, s.echoed, s.lost), (150, 140, 10));
        assert_eq!((s.duplicates, s.corrupt, s.errors), (2, 4, 6));
        assert_eq!(s.client("c1").unwrap().lost, 10);
        assert_eq!(s.client("c2").unwrap().lost, 0);
        assert_eq!(s.client("c1").unwrap().rtt_ns_p50, Some(20));
        assert_eq!(s.client("c2").unwrap().rtt_ns_p99, Some(50));
        assert_eq!(s.rtt_ns_p50, Some(30));
        assert_eq!(s.rtt_ns_p99, Some(50));
        assert_eq!(s.rtt_ns_max, Some(50));
        assert!(s.client("c3").is_none());
    }

    #[test]
    fn loss_is_per_client_not_netted_across_clients() {
        // c1 lost 5; c2 "over-echoed" cannot hide it.
        let s = TrafficStats::from_tallies(&[tally("c1", 10, 5, &[]), tally("c2", 10, 12, &[])]);
        assert_eq!(s.lost, 5);
        assert_eq!(s.rtt_ns_p50, None);
    }

    #[test]
    fn rates_over_the_window() {
        let s = TrafficStats {
            window_secs: 2.0,
            window_echoed: 1000,
            window_sent: 1200,
            ..TrafficStats::default()
        };
        assert_eq!(s.echo_pps(), 500.0);
        assert_eq!(s.send_pps(), 600.0);
        assert_eq!(TrafficStats::default().echo_pps(), 0.0);
    }
}
