//! Where each part of an LPM table object is, resolved once against a region with every bound
//! checked, so lookups index only slices already known to be inside the region.

use core::sync::atomic::{AtomicU16, AtomicU64};

use super::error::FibError;
use crate::region::Region;
use crate::tables::geometry::{lpm_layout, LpmLayout, LPM_TBL24_ENTRIES, LPM_TBL8_GROUP_ENTRIES};

/// IPv4 addresses: 4 bytes.
pub(crate) const ADDR_BYTES: u64 = 4;

#[derive(Clone, Copy)]
pub(crate) struct Parts<'a> {
    pub layout: LpmLayout,
    pub header: Region<'a>,
    pub nexthops: &'a [AtomicU64],
    pub nexthop_slot_words: usize,
    pub prefixes: &'a [AtomicU64],
    pub prefix_slot_words: usize,
    pub small: [&'a [AtomicU64]; 2],
    /// tbl24 and the groups (tables above `LPM_SMALL_LIMIT` only).
    pub index: Option<(&'a [AtomicU16], &'a [AtomicU16])>,
    /// The first group holds the default cell; groups start after it.
    pub first_group: u16,
    /// The value of the /0 route for the index (see [`super::dir24`]).
    pub default: Option<&'a AtomicU16>,
}

fn part<'a>(region: &Region<'a>, offset: u64, bytes: u64) -> Result<Region<'a>, FibError> {
    let (Ok(o), Ok(b)) = (usize::try_from(offset), usize::try_from(bytes)) else {
        return Err(FibError::Layout(
            "part offset does not fit the address space",
        ));
    };
    region
        .sub(o, b)
        .ok_or(FibError::Layout("region smaller than the table layout"))
}

impl<'a> Parts<'a> {
    pub fn resolve(region: Region<'a>, capacity: u64, row_size: u64) -> Result<Self, FibError> {
        let layout = lpm_layout(capacity, row_size, ADDR_BYTES)
            .ok_or(FibError::Layout("capacity overflows the layout"))?;
        if (region.len_bytes() as u64) < layout.total {
            return Err(FibError::Layout("region smaller than the table layout"));
        }
        let header = part(&region, 0, layout.nexthops)?;
        let nexthops = part(
            &region,
            layout.nexthops,
            layout.nexthop_count * layout.nexthop_slot_bytes,
        )?
        .words();
        let prefixes = part(
            &region,
            layout.prefixes,
            capacity * layout.prefix_slot_bytes,
        )?
        .words();
        let small = [
            part(&region, layout.small[0], layout.small_bytes)?.words(),
            part(&region, layout.small[1], layout.small_bytes)?.words(),
        ];
        let (index, first_group, default) = match (layout.tbl24, layout.tbl8) {
            (Some(t24), Some(t8)) => {
                let tbl24 = part(&region, t24, LPM_TBL24_ENTRIES * 2)?.as_u16();
                let tbl8 =
                    part(&region, t8, layout.tbl8_groups * LPM_TBL8_GROUP_ENTRIES * 2)?.as_u16();
                let Some(default) = tbl8.first().filter(|_| layout.tbl8_groups > 1) else {
                    return Err(FibError::Layout("too few groups for the default cell"));
                };
                (Some((tbl24, tbl8)), 1, Some(default))
            }
            _ => (None, 0, None),
        };
        Ok(Parts {
            layout,
            header,
            nexthops,
            nexthop_slot_words: (layout.nexthop_slot_bytes / 8) as usize,
            prefixes,
            prefix_slot_words: (layout.prefix_slot_bytes / 8) as usize,
            small,
            index,
            first_group,
            default,
        })
    }
}
