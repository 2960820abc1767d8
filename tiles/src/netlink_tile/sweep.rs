//! Mark-and-sweep bookkeeping: the generation that last wrote each mirrored row, kept private
//! to the writer (the shared rows have no room for it and readers have no use for it).
//!
//! A dump of generation `G` stamps the rows it writes with `G`; notifications stamp with the
//! sync machine's current generation. When a dump of a kind completes, the rows of that kind
//! (for routes: of that table) stamped below `G` are gone from the kernel and are removed.

use std::collections::{HashMap, HashSet};

/// The key of a mirrored route: the schema table id (`LOCAL4_ID` / `MAIN4_ID`), the prefix
/// in host order, its length and the metric, i.e. what the LPM table identifies a route by.
pub type RouteStampKey = (usize, u32, u8, u32);

/// Stamps per mirrored row.
#[derive(Debug, Default, Clone)]
pub struct Stamps {
    pub interfaces: HashMap<[u8; 4], u64>,
    pub addrs4: HashMap<[u8; 8], u64>,
    pub routes4: HashMap<RouteStampKey, u64>,
    pub neigh4: HashMap<[u8; 8], u64>,
}

/// Keys of `map` stamped below `generation`, removed from `map`.
fn take_older<K: Copy + Eq + std::hash::Hash>(
    map: &mut HashMap<K, u64>,
    generation: u64,
) -> Vec<K> {
    let old: Vec<K> = map
        .iter()
        .filter(|(_, &g)| g < generation)
        .map(|(k, _)| *k)
        .collect();
    for k in &old {
        map.remove(k);
    }
    old
}

impl Stamps {
    pub fn stale_interfaces(&mut self, generation: u64) -> Vec<[u8; 4]> {
        take_older(&mut self.interfaces, generation)
    }

    pub fn stale_addrs4(&mut self, generation: u64) -> Vec<[u8; 8]> {
        take_older(&mut self.addrs4, generation)
    }

    pub fn stale_neigh4(&mut self, generation: u64) -> Vec<[u8; 8]> {
        take_older(&mut self.neigh4, generation)
    }

    /// Stale routes of one table only: a dump of `main` says nothing about `local`.
    pub fn stale_routes4(&mut self, table_id: usize, generation: u64) -> Vec<RouteStampKey> {
        let old: Vec<RouteStampKey> = self
            .routes4
            .iter()
            .filter(|(k, &g)| k.0 == table_id && g < generation)
            .map(|(k, _)| *k)
            .collect();
        for k in &old {
            self.routes4.remove(k);
        }
        old
    }

    /// Rows keyed by (ifindex, address) whose ifindex is `ifindex` (an interface went away).
    pub fn on_ifindex(map: &HashMap<[u8; 8], u64>, ifindex: u32) -> Vec<[u8; 8]> {
        let idx = ifindex.to_le_bytes();
        map.keys().filter(|k| k[..4] == idx).copied().collect()
    }
}

/// Keys written or deleted by notifications while a dump is in flight.
///
/// A dump is read while notifications are applied, and the kernel builds a dump datagram
/// before the reader takes it: a row in a dump datagram can be older than a notification
/// already applied (typically a route deleted by `RTM_DELROUTE` re-added by the dump datagram
/// read after it, stamped with the current generation and so never swept). Every change
/// after the monitor subscribed produces a notification, and a lost one restarts the pass,
/// so for a key touched by a notification the mirror is already at least as new as the
/// dump: the dump's row for it is skipped.
#[derive(Debug, Default, Clone)]
pub struct Touched {
    active: bool,
    pub interfaces: HashSet<[u8; 4]>,
    pub addrs4: HashSet<[u8; 8]>,
    pub routes4: HashSet<RouteStampKey>,
    pub neigh4: HashSet<[u8; 8]>,
}

impl Touched {
    /// A dump starts: forget what earlier dumps saw.
    pub fn begin(&mut self) {
        self.clear();
        self.active = true;
    }

    /// No dump in flight: notifications need not be remembered.
    pub fn end(&mut self) {
        self.clear();
        self.active = false;
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    fn clear(&mut self) {
        self.interfaces.clear();
        self.addrs4.clear();
        self.routes4.clear();
        self.neigh4.clear();
    }

    /// Records `key` (a notification wrote or deleted it) while a dump is in flight.
    pub fn note<K: Eq + std::hash::Hash>(active: bool, set: &mut HashSet<K>, key: K) {
        if active {
            set.insert(key);
        }
    }
}
