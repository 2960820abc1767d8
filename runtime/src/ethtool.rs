//! The one ethtool setting netbase needs: transmit checksum offload of a device.
//!
//! A datagram a local socket sends through a veth leaves with `CHECKSUM_PARTIAL`: the UDP
//! checksum field holds only the pseudo-header sum and the "hardware" is trusted to finish
//! it. A veth peer running XDP sees those bytes as they are, so an AF_XDP receiver that
//! checks checksums (the net tile does) would drop every such datagram. Turning transmit
//! checksum offload off on the sending device makes the kernel complete the checksum in
//! software before the frame leaves, as a real NIC would on the wire. The ethtool binary is
//! not installed on a new machine, so this is the `SIOCETHTOOL` ioctl itself.

use std::io;
use std::mem::zeroed;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `ETHTOOL_STXCSUM` from `<linux/ethtool.h>`: set transmit checksum offload.
const ETHTOOL_STXCSUM: u32 = 0x17;
/// `ETHTOOL_GTXCSUM`: read it.
const ETHTOOL_GTXCSUM: u32 = 0x16;
/// `SIOCETHTOOL` from `<linux/sockios.h>`.
const SIOCETHTOOL: libc::c_ulong = 0x8946;

/// `struct ethtool_value`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

fn ethtool(ifname: &str, value: &mut EthtoolValue) -> io::Result<()> {
    let name = ifname.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {ifname:?}"),
        ));
    }
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain data (integers, arrays and a union of those and pointers); all
    // zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (value as *mut EthtoolValue).cast();
    // SAFETY: `ifr` is a valid ifreq whose name is NUL-terminated (checked length, zeroed
    // tail) and whose data pointer names `value`, a live, exclusively borrowed
    // `ethtool_value` of the size the kernel copies for these two commands.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut ifr) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `ifname` (in the calling thread's network namespace) offloads transmit checksums.
pub fn tx_checksum_offload(ifname: &str) -> io::Result<bool> {
    let mut v = EthtoolValue {
        cmd: ETHTOOL_GTXCSUM,
        data: 0,
    };
    ethtool(ifname, &mut v)?;
    Ok(v.data != 0)
}

/// Turns transmit checksum offload of `ifname` on or off (CAP_NET_ADMIN).
pub fn set_tx_checksum_offload(ifname: &str, on: bool) -> io::Result<()> {
    let mut v = EthtoolValue {
        cmd: ETHTOOL_STXCSUM,
        data: u32::from(on),
    };
    ethtool(ifname, &mut v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_names_before_any_syscall() {
        assert!(set_tx_checksum_offload("", false).is_err());
        assert!(set_tx_checksum_offload("a-name-that-is-far-too-long", false).is_err());
        assert!(tx_checksum_offload("bad\0name").is_err());
    }

    #[test]
    fn unknown_device_is_an_error() {
        assert!(tx_checksum_offload("nbnosuchdev0").is_err());
    }
}
