//! Reading and setting per-namespace interface facts: MAC addresses, the device a route uses,
//! static neighbours and sysctls.

use std::net::Ipv4Addr;

use netbase_runtime::netns::Netns;
use netbase_runtime::types::Mac;

/// The first object of `ip -j …` output, or an error naming the command.
fn first_json_object(out: &str, what: &str) -> Result<serde_json::Value, String> {
    let v: serde_json::Value = serde_json::from_str(out)
        .map_err(|e| format!("cannot parse `ip -j` output of {what}: {e}"))?;
    v.as_array()
        .and_then(|a| a.first())
        .cloned()
        .ok_or_else(|| format!("`ip -j` gave no entry for {what}"))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(Mac(mac))
}

/// The MAC address of interface `ifname` in namespace `ns`.
pub fn interface_mac(ns: &Netns, ifname: &str) -> Result<Mac, String> {
    let out = ns.ip(&["-j", "link", "show", "dev", ifname])?;
    let what = format!("{ifname} in {}", ns.name());
    let link = first_json_object(&out, &what)?;
    let addr = link
        .get("address")
        .and_then(|a| a.as_str())
        .ok_or_else(|| format!("{what} has no link-layer address"))?;
    parse_mac(addr).ok_or_else(|| format!("{what} has address {addr:?}, not a MAC"))
}

/// The device the kernel of `ns` would send to `ip` through (`ip route get`).
pub fn route_device(ns: &Netns, ip: Ipv4Addr) -> Result<String, String> {
    let ip = ip.to_string();
    let out = ns.ip(&["-j", "route", "get", &ip])?;
    let what = format!("route to {ip} in {}", ns.name());
    let route = first_json_object(&out, &what)?;
    route
        .get("dev")
        .and_then(|d| d.as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("{what} names no device"))
}

/// Makes `ip` → `mac` a permanent neighbour on `dev` in `ns` (replacing any entry).
pub fn set_static_neighbour(ns: &Netns, dev: &str, ip: Ipv4Addr, mac: Mac) -> Result<(), String> {
    let (ip, mac) = (ip.to_string(), mac.to_string());
    ns.ip(&[
        "neigh",
        "replace",
        &ip,
        "lladdr",
        &mac,
        "dev",
        dev,
        "nud",
        "permanent",
    ])?;
    Ok(())
}

/// Turns transmit checksum offload of `dev` in `ns` on or off.
pub fn set_checksum_offload(ns: &Netns, dev: &str, on: bool) -> Result<(), String> {
    ns.run(|| netbase_runtime::ethtool::set_tx_checksum_offload(dev, on))
        .map_err(|e| {
            format!(
                "cannot turn checksum offload {} on {dev} in {}: {e}",
                if on { "on" } else { "off" },
                ns.name()
            )
        })
}

/// Writes `value` to `/proc/sys/<key with dots as slashes>` as seen from inside `ns`: the
/// network sysctls under /proc/sys/net belong to the namespace of the thread that opens them.
pub fn write_sysctl(ns: &Netns, key: &str, value: &str) -> Result<(), String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    ns.run(|| std::fs::write(&path, value))
        .map_err(|e| format!("cannot set {key}={value} in {}: {e}", ns.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(
            parse_mac("02:00:0a:ff:10:01"),
            Some(Mac([2, 0, 0x0a, 0xff, 0x10, 1]))
        );
        assert_eq!(parse_mac("02:00:0a:ff:10"), None);
        assert_eq!(parse_mac("02:00:0a:ff:10:01:02"), None);
        assert_eq!(parse_mac("02:00:0a:ff:10:1"), None);
        assert_eq!(parse_mac("02:00:0a:ff:10:zz"), None);
        assert_eq!(parse_mac(""), None);
    }
}
