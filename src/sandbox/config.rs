//! The sandbox's addresses and names, and the checks that make a bad configuration fail
//! before any namespace exists.

use std::net::Ipv4Addr;

/// Addresses, names and sizes of the demo sandbox (see the module docs of
/// [`crate::sandbox`] for the picture). The defaults are the demo's topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Namespaces are named `<prefix>-<pid>-<role>` (`nbdemo-4242-srv`, …).
    pub prefix: String,
    /// Prefix length of the switched subnet of srv, c1 and the router's near side.
    pub lan_prefix_len: u8,
    /// The server's address on `server_interface`.
    pub server_ip: Ipv4Addr,
    /// The first client's address (same subnet as the server).
    pub client1_ip: Ipv4Addr,
    /// The router's address on the switched subnet: the default gateway of srv and c1.
    pub router_lan_ip: Ipv4Addr,
    /// Prefix length of the subnet between the router and c2.
    pub far_prefix_len: u8,
    /// The router's address on c2's subnet: c2's default gateway.
    pub router_far_ip: Ipv4Addr,
    /// The second client's address, one router hop away from the server.
    pub client2_ip: Ipv4Addr,
    /// The server's interface (the default topology's net tile binds `veth0`).
    pub server_interface: String,
    /// MTU of every link in the sandbox.
    pub mtu: u32,
    /// Receive and transmit queues of the server's interface and its switch port (a
    /// multi-queue topology runs one net tile per queue). The port's transmit queue, chosen
    /// per flow, is the server's receive queue.
    pub server_queues: u32,
    /// Turns IPv6 off in every namespace so that router solicitations, DAD and MLD do not
    /// show up as traffic the demo did not send.
    pub disable_ipv6: bool,
    /// Leaves transmit checksum offload on for the clients' interfaces. Off by default: with
    /// it on, datagrams from a client reach the server with only a partial UDP checksum
    /// (valid for the kernel, invalid for XDP/AF_XDP; see
    /// [`netbase_runtime::ethtool`]).
    pub client_checksum_offload: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            prefix: "nbdemo".into(),
            lan_prefix_len: 24,
            server_ip: Ipv4Addr::new(10, 200, 1, 1),
            client1_ip: Ipv4Addr::new(10, 200, 1, 2),
            router_lan_ip: Ipv4Addr::new(10, 200, 1, 254),
            far_prefix_len: 24,
            router_far_ip: Ipv4Addr::new(10, 200, 2, 254),
            client2_ip: Ipv4Addr::new(10, 200, 2, 2),
            server_queues: 1,
            server_interface: "veth0".into(),
            mtu: 1500,
            disable_ipv6: true,
            client_checksum_offload: false,
        }
    }
}

/// An IPv4 subnet: network address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    /// The network address (host bits zero).
    pub network: Ipv4Addr,
    /// The prefix length.
    pub len: u8,
}

impl Subnet {
    /// The subnet of `len` bits around `addr` (`len` at most 32).
    pub fn of(addr: Ipv4Addr, len: u8) -> Subnet {
        Subnet {
            network: Ipv4Addr::from(u32::from(addr) & mask(len)),
            len,
        }
    }

    /// Whether `addr` lies in this subnet.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.len) == u32::from(self.network)
    }

    /// The broadcast address (all host bits set).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.len))
    }

    /// Whether the two subnets share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let len = self.len.min(other.len);
        Subnet::of(self.network, len) == Subnet::of(other.network, len)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

fn mask(len: u8) -> u32 {
    match len {
        0 => 0,
        l if l >= 32 => u32::MAX,
        l => u32::MAX << (32 - l),
    }
}

/// Prefix lengths outside this range either leave no room for the hosts (31, 32) or reach
/// outside 10.0.0.0/8.
const PREFIX_LENS: std::ops::RangeInclusive<u8> = 8..=30;

impl SandboxConfig {
    /// The switched subnet (srv, c1, router near side).
    pub fn lan(&self) -> Subnet {
        Subnet::of(self.server_ip, self.lan_prefix_len)
    }

    /// The subnet between the router and c2.
    pub fn far(&self) -> Subnet {
        Subnet::of(self.client2_ip, self.far_prefix_len)
    }

    /// Every rule the topology needs, all violations in one message.
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        if !(1..=64).contains(&self.server_queues) {
            errors.push(format!(
                "server_queues {} is outside 1..=64",
                self.server_queues
            ));
        }
        if self.prefix.is_empty()
            || !self
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            errors.push(format!(
                "prefix {:?} must be non-empty ASCII letters, digits, '-' or '_'",
                self.prefix
            ));
        }
        for (what, len) in [
            ("lan_prefix_len", self.lan_prefix_len),
            ("far_prefix_len", self.far_prefix_len),
        ] {
            if !PREFIX_LENS.contains(&len) {
                errors.push(format!(
                    "{what} {len} is outside {}..={}",
                    PREFIX_LENS.start(),
                    PREFIX_LENS.end()
                ));
            }
        }
        if !errors.is_empty() {
            return Err(format!("invalid sandbox config: {}", errors.join("; ")));
        }
        let ten = Subnet::of(Ipv4Addr::new(10, 0, 0, 0), 8);
        let (lan, far) = (self.lan(), self.far());
        let hosts = [
            ("server_ip", self.server_ip, lan),
            ("client1_ip", self.client1_ip, lan),
            ("router_lan_ip", self.router_lan_ip, lan),
            ("router_far_ip", self.router_far_ip, far),
            ("client2_ip", self.client2_ip, far),
        ];
        for (what, ip, net) in hosts {
            if !ten.contains(ip) {
                errors.push(format!("{what} {ip} is not in 10.0.0.0/8"));
            } else if !net.contains(ip) {
                errors.push(format!("{what} {ip} is not in its subnet {net}"));
            } else if ip == net.network || ip == net.broadcast() {
                errors.push(format!(
                    "{what} {ip} is the network or broadcast address of {net}"
                ));
            }
        }
        for (i, (a, ip_a, _)) in hosts.iter().enumerate() {
            for (b, ip_b, _) in &hosts[i + 1..] {
                if ip_a == ip_b {
                    errors.push(format!("{a} and {b} are both {ip_a}"));
                }
            }
        }
        if lan.overlaps(&far) {
            errors.push(format!("subnets {lan} and {far} overlap"));
        }
        if self.server_interface.is_empty() {
            errors.push("server_interface is empty".into());
        }
        if !(68..=65535).contains(&self.mtu) {
            errors.push(format!("mtu {} is outside 68..=65535", self.mtu));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("invalid sandbox config: {}", errors.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        SandboxConfig::default().validate().unwrap();
        assert_eq!(SandboxConfig::default().lan().to_string(), "10.200.1.0/24");
        assert_eq!(SandboxConfig::default().far().to_string(), "10.200.2.0/24");
    }

    #[test]
    fn addresses_outside_ten_or_their_subnet_are_refused() {
        let cfg = SandboxConfig {
            client1_ip: Ipv4Addr::new(192, 168, 1, 2),
            router_far_ip: Ipv4Addr::new(10, 200, 3, 254),
            ..SandboxConfig::default()
        };
        let e = cfg.validate().unwrap_err();
        assert!(
            e.contains("client1_ip 192.168.1.2 is not in 10.0.0.0/8"),
            "{e}"
        );
        assert!(
            e.contains("router_far_ip 10.200.3.254 is not in its subnet"),
            "{e}"
        );
    }

    #[test]
    fn network_broadcast_duplicates_and_overlap_are_refused() {
        let cfg = SandboxConfig {
            client1_ip: Ipv4Addr::new(10, 200, 1, 0),
            router_lan_ip: Ipv4Addr::new(10, 200, 1, 1),
            ..SandboxConfig::default()
        };
        let e = cfg.validate().unwrap_err();
        assert!(e.contains("network or broadcast"), "{e}");
        assert!(
            e.contains("server_ip and router_lan_ip are both 10.200.1.1"),
            "{e}"
        );

        let cfg = SandboxConfig {
            lan_prefix_len: 16,
            ..SandboxConfig::default()
        };
        assert!(cfg.validate().unwrap_err().contains("overlap"));
    }

    #[test]
    fn bad_prefix_lengths_and_names_are_refused() {
        let cfg = SandboxConfig {
            lan_prefix_len: 31,
            prefix: "a b".into(),
            ..SandboxConfig::default()
        };
        let e = cfg.validate().unwrap_err();
        assert!(e.contains("lan_prefix_len 31"), "{e}");
        assert!(e.contains("prefix \"a b\""), "{e}");
    }

    #[test]
    fn subnet_arithmetic() {
        let s = Subnet::of(Ipv4Addr::new(10, 1, 2, 3), 20);
        assert_eq!(s.network, Ipv4Addr::new(10, 1, 0, 0));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 1, 15, 255));
        assert!(s.contains(Ipv4Addr::new(10, 1, 15, 1)));
        assert!(!s.contains(Ipv4Addr::new(10, 1, 16, 1)));
        assert!(s.overlaps(&Subnet::of(Ipv4Addr::new(10, 1, 4, 0), 24)));
        assert!(!s.overlaps(&Subnet::of(Ipv4Addr::new(10, 1, 16, 0), 24)));
    }
}
