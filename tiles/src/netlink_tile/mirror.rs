//! The netlink tile's handle on the netbase tables: the five table writers over one tables
//! workspace, each at the offset the code generator placed it.

use netbase_runtime::region::Region;
use netbase_runtime::sync::qsbr::ReaderEpochs;
use netbase_runtime::tables::hash::{HashError, HashWriter};
use netbase_runtime::tables::lpm::{Fib4Writer, FibError};
use netbase_runtime::workspace::{Workspace, WorkspaceError};

use crate::schema::tables as t;
use crate::schema::{Addr4, Interface, Neigh4, Route4};

/// The regions of the five tables.
#[derive(Clone, Copy)]
pub struct TableRegions<'a> {
    pub interfaces: Region<'a>,
    pub addrs4: Region<'a>,
    pub local4: Region<'a>,
    pub main4: Region<'a>,
    pub neigh4: Region<'a>,
}

impl<'a> TableRegions<'a> {
    /// The tables of a workspace created with at least `tables::WORKSPACE_BYTES` bytes.
    pub fn from_workspace(ws: &'a Workspace) -> Result<Self, WorkspaceError> {
        Ok(TableRegions {
            interfaces: Region::from_workspace(ws, t::INTERFACES_OFFSET, t::INTERFACES_BYTES)?,
            addrs4: Region::from_workspace(ws, t::ADDRS4_OFFSET, t::ADDRS4_BYTES)?,
            local4: Region::from_workspace(ws, t::LOCAL4_OFFSET, t::LOCAL4_BYTES)?,
            main4: Region::from_workspace(ws, t::MAIN4_OFFSET, t::MAIN4_BYTES)?,
            neigh4: Region::from_workspace(ws, t::NEIGH4_OFFSET, t::NEIGH4_BYTES)?,
        })
    }

    /// The tables of a region laid out like a whole workspace (offsets count from its start,
    /// header included): heap-backed tables for tests and tools. `None` if it is too small.
    pub fn from_base(base: Region<'a>) -> Option<Self> {
        let sub = |off: u64, bytes: u64| base.sub(off as usize, bytes as usize);
        Some(TableRegions {
            interfaces: sub(t::INTERFACES_OFFSET, t::INTERFACES_BYTES)?,
            addrs4: sub(t::ADDRS4_OFFSET, t::ADDRS4_BYTES)?,
            local4: sub(t::LOCAL4_OFFSET, t::LOCAL4_BYTES)?,
            main4: sub(t::MAIN4_OFFSET, t::MAIN4_BYTES)?,
            neigh4: sub(t::NEIGH4_OFFSET, t::NEIGH4_BYTES)?,
        })
    }

    /// Bytes a base region for [`TableRegions::from_base`] needs.
    pub const BASE_BYTES: u64 = t::NEIGH4_OFFSET + t::NEIGH4_BYTES;
}

/// Why the tables could not be created.
#[derive(Debug)]
pub enum OpenError {
    Hash(&'static str, HashError),
    Fib(&'static str, FibError),
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OpenError::Hash(table, e) => write!(f, "table {table}: {e}"),
            OpenError::Fib(table, e) => write!(f, "table {table}: {e}"),
        }
    }
}

impl std::error::Error for OpenError {}

pub type InterfaceTable<'a> = HashWriter<'a, Interface, [u8; 4]>;
pub type Addr4Table<'a> = HashWriter<'a, Addr4, [u8; 8]>;
pub type Neigh4Table<'a> = HashWriter<'a, Neigh4, [u8; 8]>;
pub type Route4Table<'a, R> = Fib4Writer<'a, Route4, R>;

/// Every table writer of one netbase instance. The LPM tables reuse next-hop memory only
/// after every reader in `R` passed a quiescent point; tools and tests without readers pass
/// `NoReaders`.
pub struct NetbaseWriter<'a, R> {
    pub interfaces: InterfaceTable<'a>,
    pub addrs4: Addr4Table<'a>,
    pub local4: Route4Table<'a, R>,
    pub main4: Route4Table<'a, R>,
    pub neigh4: Neigh4Table<'a>,
}

impl<'a, R: ReaderEpochs + Clone> NetbaseWriter<'a, R> {
    /// Creates empty tables (whatever the regions held is overwritten: a new instance that
    /// no reader has attached to yet). `seed` seeds the hash tables' hash function.
    ///
    /// Both route tables get the same `readers`: right for reader sets without per-table
    /// state (`NoReaders`, tests). Readers that publish one quiescent word per table (tiles)
    /// go through [`NetbaseWriter::create_with`].
    pub fn create(regions: TableRegions<'a>, readers: R, seed: u64) -> Result<Self, OpenError> {
        Self::create_with(regions, readers.clone(), readers, seed)
    }

    /// [`NetbaseWriter::create`] with the readers of `local4` and of `main4` given apart:
    /// each LPM table runs its own epoch clock, so each needs the words in which readers
    /// announce *that* table's epochs (slots [`LOCAL4_QSBR_SLOT`](super::readers::LOCAL4_QSBR_SLOT)
    /// and [`MAIN4_QSBR_SLOT`](super::readers::MAIN4_QSBR_SLOT) of a tile's status).
    pub fn create_with(
        regions: TableRegions<'a>,
        local4_readers: R,
        main4_readers: R,
        seed: u64,
    ) -> Result<Self, OpenError> {
        let hash = |name: &'static str| move |e| OpenError::Hash(name, e);
        let fib = |name: &'static str| move |e| OpenError::Fib(name, e);
        Ok(NetbaseWriter {
            interfaces: HashWriter::create(
                regions.interfaces,
                t::INTERFACES.capacity,
                t::interfaces_key as fn(&Interface) -> [u8; 4],
                seed,
            )
            .map_err(hash("interfaces"))?,
            addrs4: HashWriter::create(
                regions.addrs4,
                t::ADDRS4.capacity,
                t::addrs4_key as fn(&Addr4) -> [u8; 8],
                seed,
            )
            .map_err(hash("addrs4"))?,
            local4: Fib4Writer::create(regions.local4, t::LOCAL4.capacity, local4_readers)
                .map_err(fib("local4"))?,
            main4: Fib4Writer::create(regions.main4, t::MAIN4.capacity, main4_readers)
                .map_err(fib("main4"))?,
            neigh4: HashWriter::create(
                regions.neigh4,
                t::NEIGH4.capacity,
                t::neigh4_key as fn(&Neigh4) -> [u8; 8],
                seed,
            )
            .map_err(hash("neigh4"))?,
        })
    }

    /// Takes over tables a previous writer of this workspace laid out (a restarted netlink
    /// tile): rows stay where they are, so readers keep answering from them until the first
    /// full sync replaces and sweeps them (see `Mirror::stamp_adopted`). The hash seed is the
    /// one the tables were created with.
    pub fn attach_with(
        regions: TableRegions<'a>,
        local4_readers: R,
        main4_readers: R,
    ) -> Result<Self, OpenError> {
        let hash = |name: &'static str| move |e| OpenError::Hash(name, e);
        let fib = |name: &'static str| move |e| OpenError::Fib(name, e);
        Ok(NetbaseWriter {
            interfaces: HashWriter::attach(
                regions.interfaces,
                t::INTERFACES.capacity,
                t::interfaces_key as fn(&Interface) -> [u8; 4],
            )
            .map_err(hash("interfaces"))?,
            addrs4: HashWriter::attach(
                regions.addrs4,
                t::ADDRS4.capacity,
                t::addrs4_key as fn(&Addr4) -> [u8; 8],
            )
            .map_err(hash("addrs4"))?,
            local4: Fib4Writer::attach(regions.local4, t::LOCAL4.capacity, local4_readers)
                .map_err(fib("local4"))?,
            main4: Fib4Writer::attach(regions.main4, t::MAIN4.capacity, main4_readers)
                .map_err(fib("main4"))?,
            neigh4: HashWriter::attach(
                regions.neigh4,
                t::NEIGH4.capacity,
                t::neigh4_key as fn(&Neigh4) -> [u8; 8],
            )
            .map_err(hash("neigh4"))?,
        })
    }

    /// The route table with schema id `id` (`LOCAL4_ID` or `MAIN4_ID`).
    pub fn route_table(&mut self, id: usize) -> Option<&mut Route4Table<'a, R>> {
        match id {
            t::LOCAL4_ID => Some(&mut self.local4),
            t::MAIN4_ID => Some(&mut self.main4),
            _ => None,
        }
    }

    /// LPM housekeeping after a batch of changes (publishes deferred changes, retries routes
    /// refused for lack of room, reclaims memory readers no longer use).
    pub fn maintain(&mut self) {
        self.local4.maintain();
        self.main4.maintain();
    }
}
