#!/usr/bin/env python3
"""Captures real rtnetlink messages as seeds for the netlink_parse fuzz target.

Run as root from the repository root:

    python3 fuzz/scripts/capture_netlink_seeds.py [OUT_DIR]   # default fuzz/seeds/netlink_parse

It creates a throwaway network namespace, fills it with interfaces (veth, bridge, vxlan,
macvlan), IPv4 addresses, routes (gateway, multipath, blackhole, table 100 ...) and neighbours,
then, from inside the namespace, dumps links/addresses/routes/neighbours over a NETLINK_ROUTE
socket and records the RTM_DEL* notifications of a few deletions. Each message is written to
its own file; two whole dump datagrams (several messages back to back) are kept too, cut to at
most 4 KiB. The namespace is deleted at the end, whatever happens. No traffic leaves the
namespace: its only addresses are on its own veth pair.
"""

import os
import socket
import struct
import subprocess
import sys

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_DONE, NLMSG_ERROR = 3, 2
RTM = {
    16: "newlink", 17: "dellink", 20: "newaddr", 21: "deladdr",
    24: "newroute", 25: "delroute", 28: "newneigh", 29: "delneigh",
}
RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH = 18, 22, 26, 30
RTMGRP_LINK, RTMGRP_NEIGH, RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE = 0x1, 0x4, 0x10, 0x40
AF_UNSPEC, AF_INET = 0, 2
MAX_DATAGRAM_SEED = 4096


def sh(ns, *cmds):
    for c in cmds:
        subprocess.run(["ip", "-n", ns] + c.split(), check=True)


def setup(ns):
    sh(
        ns,
        "link set lo up",
        "link add v0 type veth peer name v1",
        "link add br0 type bridge",
        "link set v1 master br0",
        "link add vx0 type vxlan id 42 dstport 4789 local 10.77.0.1 dev v0",
        "link add link v0 name mv0 type macvlan",
        "link set v0 mtu 9000",
        "link set v0 up",
        "link set v1 up",
        "link set br0 up",
        "link set mv0 up",
        "addr add 10.77.0.1/24 brd + dev v0",
        "addr add 10.77.0.9/32 dev v0",
        "addr add 10.78.0.1/16 dev br0 label br0:lbl",
        "addr add 10.79.0.1/24 dev mv0",
        "route add default via 10.77.0.254 dev v0 metric 100",
        "route add 192.0.2.0/24 via 10.77.0.2 dev v0 src 10.77.0.1 proto static",
        "route add 198.51.100.0/24 nexthop via 10.77.0.3 dev v0 nexthop via 10.79.0.3 dev mv0",
        "route add blackhole 203.0.113.0/24",
        "route add unreachable 203.0.113.128/25 table 100",
        "route add 10.200.0.0/16 dev v0 table 1000 tos 0x10",
        "neigh add 10.77.0.2 lladdr 02:00:00:00:00:02 dev v0 nud permanent",
        "neigh add 10.77.0.3 lladdr 02:00:00:00:00:03 dev v0 nud stale",
        "neigh add 10.79.0.3 dev mv0 nud incomplete",
    )


def recv_all(sock):
    """Yields (datagram, [messages]) until NLMSG_DONE."""
    while True:
        data = sock.recv(1 << 16)
        msgs, off, done = [], 0, False
        while off + 16 <= len(data):
            ln, ty = struct.unpack_from("=IH", data, off)
            if ln < 16 or off + ln > len(data):
                break
            if ty == NLMSG_DONE:
                done = True
            elif ty == NLMSG_ERROR:
                raise RuntimeError("netlink error reply")
            else:
                msgs.append(data[off:off + ln])
            off += (ln + 3) & ~3
        yield data, msgs
        if done:
            return


def dump(sock, ty, family, seq):
    if ty == RTM_GETLINK:
        body = struct.pack("=BxHiII", family, 0, 0, 0, 0)  # ifinfomsg
    elif ty == RTM_GETADDR:
        body = struct.pack("=BBBBI", family, 0, 0, 0, 0)  # ifaddrmsg
    elif ty == RTM_GETROUTE:
        body = struct.pack("=BBBBBBBBI", family, 0, 0, 0, 0, 0, 0, 0, 0)  # rtmsg
    else:
        body = struct.pack("=BxxxiHBB", family, 0, 0, 0, 0)  # ndmsg
    hdr = struct.pack("=IHHII", 16 + len(body), ty, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    sock.send(hdr + body)
    return list(recv_all(sock))


def attr(ty, payload):
    ln = 4 + len(payload)
    return struct.pack("=HH", ln, ty) + payload + b"\0" * (((ln + 3) & ~3) - ln)


def synth_vlan_link():
    """A VLAN RTM_NEWLINK as the kernel sends it (this sandbox has no 8021q to make a real one):
    IFLA_LINKINFO { IFLA_INFO_KIND "vlan", IFLA_INFO_DATA { IFLA_VLAN_ID 10 } }."""
    ifinfo = struct.pack("=BxHiII", AF_UNSPEC, 1, 7, 0x1043, 0)
    attrs = (
        attr(3, b"v0.10\0")  # IFLA_IFNAME
        + attr(4, struct.pack("=I", 1500))  # IFLA_MTU
        + attr(5, struct.pack("=I", 2))  # IFLA_LINK
        + attr(1, bytes.fromhex("020000000010"))  # IFLA_ADDRESS
        + attr(16, b"\x06")  # IFLA_OPERSTATE up
        + attr(18, attr(1, b"vlan\0") + attr(2, attr(1, struct.pack("=H", 10))))
    )
    body = ifinfo + attrs
    return struct.pack("=IHHII", 16 + len(body), 16, 0, 0, 0) + body


def inside(out):
    os.makedirs(out, exist_ok=True)
    written = []

    def save(name, data):
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(data)
        written.append((name, len(data)))

    mon = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    mon.bind((0, RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE))
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    sock.bind((0, 0))

    seq = 1
    for ty, family, what in (
        (RTM_GETLINK, AF_UNSPEC, "link"),
        (RTM_GETADDR, AF_INET, "addr4"),
        (RTM_GETROUTE, AF_INET, "route4"),
        (RTM_GETNEIGH, AF_INET, "neigh4"),
    ):
        replies = dump(sock, ty, family, seq)
        seq += 1
        n = 0
        for datagram, msgs in replies:
            for m in msgs:
                save(f"dump_{what}_{n:02}.bin", m)
                n += 1
        if what in ("link", "route4") and replies:
            datagram = replies[0][0]
            # Cut at a message boundary so the seed stays small and well formed.
            off = 0
            while off + 16 <= len(datagram):
                ln = struct.unpack_from("=I", datagram, off)[0]
                nxt = off + ((ln + 3) & ~3)
                if nxt > MAX_DATAGRAM_SEED:
                    break
                off = nxt
            save(f"datagram_{what}.bin", datagram[:off])

    # Deletions arrive as notifications on the monitor socket.
    ns = os.environ["NETBASE_FUZZ_NS"]
    sh(
        ns,
        "neigh del 10.77.0.3 dev v0",
        "route del 192.0.2.0/24",
        "addr del 10.79.0.1/24 dev mv0",
        "link del mv0",
    )
    mon.settimeout(1.0)
    n = 0
    try:
        while True:
            data = mon.recv(1 << 16)
            off = 0
            while off + 16 <= len(data):
                ln, ty = struct.unpack_from("=IH", data, off)
                if ln < 16:
                    break
                if ty in RTM:
                    save(f"notify_{RTM[ty]}_{n:02}.bin", data[off:off + ln])
                    n += 1
                off += (ln + 3) & ~3
    except socket.timeout:
        pass

    save("synth_newlink_vlan.bin", synth_vlan_link())
    for name, size in written:
        print(f"{size:6} {name}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        inside(sys.argv[2])
        return
    out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/seeds/netlink_parse"
    ns = f"nbfz{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        setup(ns)
        subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
             "--inside", os.path.abspath(out)],
            check=True,
            env=dict(os.environ, NETBASE_FUZZ_NS=ns),
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
