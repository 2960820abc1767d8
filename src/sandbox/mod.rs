//! The network sandbox of `netbase demo` and `netbase bench echo`: five network namespaces
//! joined by veth pairs, a bridge and a router, built with `ip` and removed when dropped.
//!
//! ```text
//!                 sw (bridge br0)
//!   srv ─veth0──p-srv ┤
//!   10.200.1.1/24     ├ p-c1──eth0─ c1   10.200.1.2/24
//!                     └ p-rt──eth0─ rt   10.200.1.254/24
//!                                   rt ─eth1──eth0─ c2
//!                          10.200.2.254/24          10.200.2.2/24
//! ```
//!
//! srv and c1 share the switched subnet; c2 is one router hop away. srv and c1 route by
//! default via the router's near address, c2 via its far one; `rt` forwards IPv4. So traffic
//! from c2 exercises gateway routing and ARP for the gateway on the server. Addresses, subnets,
//! the server's interface name, the MTU and the name prefix come from [`SandboxConfig`]
//! (defaults as drawn; all addresses must lie in 10.0.0.0/8).
//!
//! The clients' interfaces have transmit checksum offload turned off (unless
//! [`SandboxConfig::client_checksum_offload`]): a veth otherwise passes datagrams from local
//! sockets on with a partial UDP checksum, which the server's kernel accepts but an XDP
//! program or AF_XDP socket on `veth0` sees as invalid. IPv6 is off in every namespace
//! (unless [`SandboxConfig::disable_ipv6`] is false), so the server's interface only sees the
//! demo's IPv4 traffic and ARP.
//!
//! # Use
//!
//! ```no_run
//! use netbase::sandbox::{Role, Sandbox, SandboxConfig};
//! let sb = Sandbox::create(SandboxConfig::default())?;
//! // A net tile binds `sb.server_interface()` inside `sb.server()` (a `Netns`); clients
//! // open their sockets inside `sb.clients()[i].ns` bound to `sb.clients()[i].ip`.
//! let mac = sb.mac(Role::Server, sb.server_interface())?;
//! # let _ = mac;
//! drop(sb); // every namespace is deleted, and with them every veth, bridge and route
//! # Ok::<(), String>(())
//! ```
//!
//! Namespaces are named `<prefix>-<pid>-<role>` ([`Sandbox::name_prefix`] gives the common
//! part, [`list_namespaces`] what `ip netns list` shows). Each is created through a
//! [`Netns`] guard, so an error half way through [`Sandbox::create`] deletes the ones made so
//! far; dropping the [`Sandbox`] (also while unwinding) deletes all of them. Processes that
//! should end with the sandbox (an XDP link dies with its process) are the caller's to stop
//! first; a namespace with a live socket is detached by `ip netns del` and goes when the last
//! user closes.

mod config;
mod iface;

use std::net::Ipv4Addr;

use netbase_runtime::netns::Netns;
use netbase_runtime::types::Mac;

pub use config::{SandboxConfig, Subnet};
pub use iface::{
    interface_mac, parse_mac, route_device, set_checksum_offload, set_static_neighbour,
    write_sysctl,
};

/// The namespaces of the sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The server (runs netbase or the kernel echo server).
    Server,
    /// The switch: bridge `br0` with one port per host on the near subnet.
    Switch,
    /// The first client, on the server's subnet.
    Client1,
    /// The router between the two subnets.
    Router,
    /// The second client, behind the router.
    Client2,
}

impl Role {
    /// Every role, in creation order.
    pub const ALL: [Role; 5] = [
        Role::Server,
        Role::Switch,
        Role::Client1,
        Role::Router,
        Role::Client2,
    ];

    /// The short name that ends the namespace's name.
    pub fn short(self) -> &'static str {
        match self {
            Role::Server => "srv",
            Role::Switch => "sw",
            Role::Client1 => "c1",
            Role::Router => "rt",
            Role::Client2 => "c2",
        }
    }
}

/// The data interface of the clients, and of the router towards the switch.
pub const HOST_INTERFACE: &str = "eth0";
/// The router's interface towards c2.
pub const ROUTER_FAR_INTERFACE: &str = "eth1";
/// The bridge in the switch namespace.
pub const BRIDGE: &str = "br0";

/// A client of the sandbox: where to open its sockets and which address to bind.
#[derive(Clone, Copy, Debug)]
pub struct ClientEndpoint<'a> {
    /// `"c1"` or `"c2"`.
    pub name: &'static str,
    /// The client's namespace.
    pub ns: &'a Netns,
    /// The client's address.
    pub ip: Ipv4Addr,
}

/// The built sandbox; dropping it deletes every namespace it created.
#[derive(Debug)]
pub struct Sandbox {
    cfg: SandboxConfig,
    srv: Netns,
    sw: Netns,
    c1: Netns,
    rt: Netns,
    c2: Netns,
}

/// Switch port facing `role`.
fn switch_port(role: Role) -> String {
    format!("p-{}", role.short())
}

impl Sandbox {
    /// `<prefix>-<pid>-`: how every namespace name of a sandbox made by this process with
    /// `prefix` begins.
    pub fn name_prefix(prefix: &str) -> String {
        format!("{prefix}-{}-", std::process::id())
    }

    /// The namespace name of `role` for a sandbox made with `prefix` by this process.
    pub fn namespace_name(prefix: &str, role: Role) -> String {
        format!("{}{}", Sandbox::name_prefix(prefix), role.short())
    }

    /// Validates `cfg`, then builds the sandbox. Needs root and `ip`. On any error, the
    /// namespaces made so far are deleted before it returns; the message says which step
    /// failed and `ip`'s reason.
    pub fn create(cfg: SandboxConfig) -> Result<Sandbox, String> {
        cfg.validate()?;
        let make = |role| {
            Netns::create(Sandbox::namespace_name(&cfg.prefix, role))
                .map_err(|e| format!("sandbox: cannot create the {} namespace: {e}", role.short()))
        };
        let sb = Sandbox {
            srv: make(Role::Server)?,
            sw: make(Role::Switch)?,
            c1: make(Role::Client1)?,
            rt: make(Role::Router)?,
            c2: make(Role::Client2)?,
            cfg,
        };
        sb.wire().map_err(|e| format!("sandbox: {e}"))?;
        Ok(sb)
    }

    /// Links, addresses, routes and sysctls, in an order where each step's prerequisites
    /// exist: links first (both ends in place), then sysctls (which touch existing devices),
    /// then addresses and routes (a gateway must be on a configured, up subnet).
    fn wire(&self) -> Result<(), String> {
        let cfg = &self.cfg;
        let mtu = cfg.mtu;
        let mut sw = format!(
            "link set lo up\n\
             link add {BRIDGE} type bridge forward_delay 0\n\
             link set {BRIDGE} up\n"
        );
        for (role, peer_if) in [
            (Role::Server, cfg.server_interface.as_str()),
            (Role::Client1, HOST_INTERFACE),
            (Role::Router, HOST_INTERFACE),
        ] {
            let port = switch_port(role);
            let peer_ns = self.ns(role).name();
            let q = if role == Role::Server {
                let n = cfg.server_queues;
                format!(" numtxqueues {n} numrxqueues {n}")
            } else {
                String::new()
            };
            sw.push_str(&format!(
                "link add {port} mtu {mtu}{q} type veth peer name {peer_if} mtu {mtu}{q} netns {peer_ns}\n\
                 link set {port} master {BRIDGE}\n\
                 link set {port} up\n"
            ));
        }
        self.sw
            .ip_batch(&sw)
            .map_err(|e| format!("switch links: {e}"))?;
        self.rt
            .ip_batch(&format!(
                "link add {ROUTER_FAR_INTERFACE} mtu {mtu} type veth peer name {HOST_INTERFACE} mtu {mtu} netns {}\n",
                self.c2.name()
            ))
            .map_err(|e| format!("router link: {e}"))?;

        if cfg.disable_ipv6 {
            for role in Role::ALL {
                for key in [
                    "net.ipv6.conf.all.disable_ipv6",
                    "net.ipv6.conf.default.disable_ipv6",
                ] {
                    // A kernel without IPv6 has nothing to turn off.
                    if std::path::Path::new("/proc/sys/net/ipv6").exists() {
                        write_sysctl(self.ns(role), key, "1")?;
                    }
                }
            }
        }
        write_sysctl(&self.rt, "net.ipv4.ip_forward", "1")?;
        if !cfg.client_checksum_offload {
            // The router forwards c2's datagrams with the checksum c2 wrote, so the clients'
            // own interfaces are the only ones that matter.
            set_checksum_offload(&self.c1, HOST_INTERFACE, false)?;
            set_checksum_offload(&self.c2, HOST_INTERFACE, false)?;
        }

        let (lan_len, far_len) = (cfg.lan_prefix_len, cfg.far_prefix_len);
        let host = |ip: Ipv4Addr, len: u8, dev: &str, gw: Ipv4Addr| {
            format!(
                "link set lo up\n\
                 addr add {ip}/{len} dev {dev}\n\
                 link set {dev} up\n\
                 route add default via {gw} dev {dev}\n"
            )
        };
        let steps = [
            (
                Role::Server,
                host(
                    cfg.server_ip,
                    lan_len,
                    &cfg.server_interface,
                    cfg.router_lan_ip,
                ),
            ),
            (
                Role::Client1,
                host(cfg.client1_ip, lan_len, HOST_INTERFACE, cfg.router_lan_ip),
            ),
            (
                Role::Client2,
                host(cfg.client2_ip, far_len, HOST_INTERFACE, cfg.router_far_ip),
            ),
            (
                Role::Router,
                format!(
                    "link set lo up\n\
                     addr add {}/{lan_len} dev {HOST_INTERFACE}\n\
                     link set {HOST_INTERFACE} up\n\
                     addr add {}/{far_len} dev {ROUTER_FAR_INTERFACE}\n\
                     link set {ROUTER_FAR_INTERFACE} up\n",
                    cfg.router_lan_ip, cfg.router_far_ip
                ),
            ),
        ];
        for (role, script) in steps {
            self.ns(role)
                .ip_batch(&script)
                .map_err(|e| format!("addresses of {}: {e}", role.short()))?;
        }
        Ok(())
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &SandboxConfig {
        &self.cfg
    }

    /// The namespace of `role`.
    pub fn ns(&self, role: Role) -> &Netns {
        match role {
            Role::Server => &self.srv,
            Role::Switch => &self.sw,
            Role::Client1 => &self.c1,
            Role::Router => &self.rt,
            Role::Client2 => &self.c2,
        }
    }

    /// The server's namespace.
    pub fn server(&self) -> &Netns {
        &self.srv
    }

    /// The server's address.
    pub fn server_ip(&self) -> Ipv4Addr {
        self.cfg.server_ip
    }

    /// The server's interface (where a net tile binds; `veth0` by default).
    pub fn server_interface(&self) -> &str {
        &self.cfg.server_interface
    }

    /// The switch port the server's interface is wired to (in [`Role::Switch`]).
    pub fn server_switch_port(&self) -> String {
        switch_port(Role::Server)
    }

    /// The clients: c1 (same subnet as the server) and c2 (behind the router).
    pub fn clients(&self) -> [ClientEndpoint<'_>; 2] {
        [
            ClientEndpoint {
                name: Role::Client1.short(),
                ns: &self.c1,
                ip: self.cfg.client1_ip,
            },
            ClientEndpoint {
                name: Role::Client2.short(),
                ns: &self.c2,
                ip: self.cfg.client2_ip,
            },
        ]
    }

    /// The address of `role` on its data interface (the router's near address for
    /// [`Role::Router`]; `None` for the switch, which has none).
    pub fn ip(&self, role: Role) -> Option<Ipv4Addr> {
        match role {
            Role::Server => Some(self.cfg.server_ip),
            Role::Switch => None,
            Role::Client1 => Some(self.cfg.client1_ip),
            Role::Router => Some(self.cfg.router_lan_ip),
            Role::Client2 => Some(self.cfg.client2_ip),
        }
    }

    /// The names of every namespace of this sandbox, in creation order.
    pub fn namespace_names(&self) -> Vec<String> {
        Role::ALL
            .iter()
            .map(|r| self.ns(*r).name().to_string())
            .collect()
    }

    /// The MAC address of `ifname` in the namespace of `role`.
    pub fn mac(&self, role: Role, ifname: &str) -> Result<Mac, String> {
        interface_mac(self.ns(role), ifname)
    }

    /// Makes `ip` → `mac` a permanent neighbour in the namespace of `role`, on the device its
    /// kernel routes `ip` through (so tests need not know interface names).
    pub fn static_neighbour(&self, role: Role, ip: Ipv4Addr, mac: Mac) -> Result<(), String> {
        let ns = self.ns(role);
        let dev = route_device(ns, ip)?;
        set_static_neighbour(ns, &dev, ip, mac)
    }
}

/// The namespaces `ip netns list` shows, by name.
pub fn list_namespaces() -> Result<Vec<String>, String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map_err(|e| format!("cannot run `ip netns list`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`ip netns list` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // Lines look like `name` or `name (id: 3)`.
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}
