//! Binding descriptor roles by what the open descriptors are, for tiles that do not keep
//! their sockets' numbers at hand.

use std::io;
use std::mem::size_of;
use std::os::fd::RawFd;

use super::install::FdBindings;
use super::policy::FdRole;

impl FdBindings {
    /// Binds [`FdRole::Stderr`] to 2 and every open socket of a kind a role names: AF_XDP
    /// sockets to [`FdRole::Xsk`], raw IPv4 sockets to [`FdRole::RawIp`]. Reads
    /// `/proc/self/fd`, so it must run before the filter is installed.
    pub fn discover() -> io::Result<FdBindings> {
        let mut fds = FdBindings::new().with(FdRole::Stderr, 2);
        let mut open: Vec<RawFd> = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd")? {
            if let Some(fd) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
                open.push(fd);
            }
        }
        // The directory's own descriptor is closed by now; it fails the probe below.
        for fd in open {
            let (Some(domain), Some(ty)) =
                (sockopt(fd, libc::SO_DOMAIN), sockopt(fd, libc::SO_TYPE))
            else {
                continue;
            };
            match (domain, ty) {
                (libc::AF_XDP, _) => fds.add(FdRole::Xsk, fd),
                (libc::AF_INET, libc::SOCK_RAW) => fds.add(FdRole::RawIp, fd),
                _ => {}
            }
        }
        Ok(fds)
    }
}

/// An integer `SOL_SOCKET` option of `fd`; `None` if `fd` is not an open socket.
fn sockopt(fd: RawFd, name: libc::c_int) -> Option<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes (the size of the local `value`, borrowed
    // exclusively for the call) and stores the written length in `len`. A descriptor that is
    // not an open socket only makes the call fail.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize == size_of::<libc::c_int>()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn finds_stderr_and_ignores_other_sockets() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fds = FdBindings::discover().unwrap();
        assert_eq!(fds.get(FdRole::Stderr), &[2]);
        assert!(!fds.get(FdRole::Xsk).contains(&udp.as_raw_fd()));
        assert!(!fds.get(FdRole::RawIp).contains(&udp.as_raw_fd()));
    }

    #[test]
    fn binds_raw_ipv4_sockets_when_privileged() {
        let Ok(raw) = crate::rawframe::RawIpv4Sender::open() else {
            return; // needs CAP_NET_RAW
        };
        let fds = FdBindings::discover().unwrap();
        // Other tests of this process may hold raw sockets too: at least ours is found.
        assert!(!fds.get(FdRole::RawIp).is_empty(), "{fds:?}");
        drop(raw);
    }
}
