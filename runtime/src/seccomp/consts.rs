//! Argument values that policies compare against.
//!
//! Policies are built by the codegen, which may run on another machine than the tile, so the
//! values are spelled out here instead of taken from `libc` of the build target. Each one is the
//! same on x86_64 and aarch64 (the only architectures a filter is compiled for); the tests check
//! them against `libc` on the build machine.

pub const AF_NETLINK: u64 = 16;
pub const SOCK_RAW: u64 = 3;
pub const SOCK_NONBLOCK: u64 = 0o4000;
pub const SOCK_CLOEXEC: u64 = 0o2000000;
pub const NETLINK_ROUTE: u64 = 0;
/// `sizeof(struct sockaddr_nl)`.
pub const SOCKADDR_NL_LEN: u64 = 12;

pub const SOL_SOCKET: u64 = 1;
pub const SO_RCVBUF: u64 = 8;
pub const SO_RCVBUFFORCE: u64 = 33;
pub const SOL_NETLINK: u64 = 270;
pub const NETLINK_EXT_ACK: u64 = 11;
pub const NETLINK_GET_STRICT_CHK: u64 = 12;
pub const SOL_XDP: u64 = 283;
pub const XDP_STATISTICS: u64 = 7;

pub const F_GETFD: u64 = 1;

pub const PROT_EXEC: u64 = 4;
pub const MAP_ANONYMOUS: u64 = 0x20;
pub const MADV_DONTNEED: u64 = 4;
pub const MADV_FREE: u64 = 8;

pub const FUTEX_WAIT: u64 = 0;
pub const FUTEX_WAKE: u64 = 1;
pub const FUTEX_WAIT_BITSET: u64 = 9;
pub const FUTEX_WAKE_BITSET: u64 = 10;
pub const FUTEX_PRIVATE_FLAG: u64 = 128;
pub const FUTEX_CLOCK_REALTIME: u64 = 256;
/// The bits of a futex `op` that name the operation: everything but the two modifier flags,
/// within the 32 bits of the C `int` the kernel reads.
pub const FUTEX_CMD_MASK: u64 = 0xffff_ffff & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);

pub const SIGABRT: u64 = 6;
pub const SIGBUS: u64 = 7;
pub const SIGSEGV: u64 = 11;

/// `PR_GET_AUXV` (Linux 6.4): read the process's own auxiliary vector.
pub const PR_GET_AUXV: u64 = 0x4155_5856;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_libc() {
        let pairs: &[(u64, i64)] = &[
            (AF_NETLINK, libc::AF_NETLINK.into()),
            (SOCK_RAW, libc::SOCK_RAW.into()),
            (SOCK_NONBLOCK, libc::SOCK_NONBLOCK.into()),
            (SOCK_CLOEXEC, libc::SOCK_CLOEXEC.into()),
            (NETLINK_ROUTE, libc::NETLINK_ROUTE.into()),
            (
                SOCKADDR_NL_LEN,
                std::mem::size_of::<libc::sockaddr_nl>() as i64,
            ),
            (SOL_SOCKET, libc::SOL_SOCKET.into()),
            (SO_RCVBUF, libc::SO_RCVBUF.into()),
            (SO_RCVBUFFORCE, libc::SO_RCVBUFFORCE.into()),
            (SOL_NETLINK, libc::SOL_NETLINK.into()),
            (NETLINK_EXT_ACK, libc::NETLINK_EXT_ACK.into()),
            (NETLINK_GET_STRICT_CHK, libc::NETLINK_GET_STRICT_CHK.into()),
            (SOL_XDP, libc::SOL_XDP.into()),
            (XDP_STATISTICS, netbase_uapi::linux::XDP_STATISTICS.into()),
            (F_GETFD, libc::F_GETFD.into()),
            (PROT_EXEC, libc::PROT_EXEC.into()),
            (MAP_ANONYMOUS, libc::MAP_ANONYMOUS.into()),
            (MADV_DONTNEED, libc::MADV_DONTNEED.into()),
            (MADV_FREE, libc::MADV_FREE.into()),
            (FUTEX_WAIT, libc::FUTEX_WAIT.into()),
            (FUTEX_WAKE, libc::FUTEX_WAKE.into()),
            (FUTEX_WAIT_BITSET, libc::FUTEX_WAIT_BITSET.into()),
            (FUTEX_WAKE_BITSET, libc::FUTEX_WAKE_BITSET.into()),
            (FUTEX_PRIVATE_FLAG, libc::FUTEX_PRIVATE_FLAG.into()),
            (FUTEX_CLOCK_REALTIME, libc::FUTEX_CLOCK_REALTIME.into()),
            (SIGABRT, libc::SIGABRT.into()),
            (SIGBUS, libc::SIGBUS.into()),
            (SIGSEGV, libc::SIGSEGV.into()),
            (PR_GET_AUXV, 0x4155_5856),
        ];
        for (i, (ours, theirs)) in pairs.iter().enumerate() {
            assert_eq!(*ours as i64, *theirs, "constant #{i}");
        }
    }
}
