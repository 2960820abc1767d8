//! Test frames for the XDP program: Ethernet/IPv4/UDP with every field the program looks at
//! adjustable, plus ARP and IPv6. Shared by the codegen unit tests and the root crate's
//! `tests/xdp_program.rs` (included there by path), so both judge the same bytes.

#![allow(dead_code)]

/// An IPv4 frame; [`Ipv4Frame::udp`] gives the common case.
#[derive(Debug, Clone)]
pub struct Ipv4Frame {
    /// 802.1Q tag (TCI) between the MAC addresses and the EtherType, if any.
    pub vlan: Option<u16>,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    /// Header length in 32-bit words (5: no options).
    pub ihl: u8,
    /// Flags and fragment offset, host order (0x2000 = MF, 0x4000 = DF).
    pub frag: u16,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

impl Ipv4Frame {
    /// UDP from 10.9.0.2:40000 to 10.9.0.1:`dst_port`, 16 bytes of payload.
    pub fn udp(dst_port: u16) -> Ipv4Frame {
        Ipv4Frame {
            vlan: None,
            src: [10, 9, 0, 2],
            dst: [10, 9, 0, 1],
            ihl: 5,
            frag: 0x4000,
            protocol: 17,
            src_port: 40000,
            dst_port,
            payload: b"netbase xdp test".to_vec(),
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut f = ethernet_header(self.vlan, 0x0800);
        let ip_len = usize::from(self.ihl) * 4;
        let l4_len = 8 + self.payload.len();
        let total = (ip_len + l4_len) as u16;
        let mut ip = vec![0u8; ip_len.max(20)];
        ip[0] = 0x40 | (self.ihl & 0xf);
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        ip[6..8].copy_from_slice(&self.frag.to_be_bytes());
        ip[8] = 64;
        ip[9] = self.protocol;
        ip[12..16].copy_from_slice(&self.src);
        ip[16..20].copy_from_slice(&self.dst);
        // Options beyond 20 bytes: NOPs, then end of list.
        for b in ip.iter_mut().skip(20) {
            *b = 1;
        }
        if let Some(last) = ip.last_mut().filter(|_| ip_len > 20) {
            *last = 0;
        }
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&self.src_port.to_be_bytes());
        f.extend_from_slice(&self.dst_port.to_be_bytes());
        f.extend_from_slice(&(l4_len as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&self.payload);
        f
    }
}

/// Destination and source MAC, optional 802.1Q tag, EtherType.
pub fn ethernet_header(vlan: Option<u16>, ethertype: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    if let Some(tci) = vlan {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// An ARP request for 10.9.0.1.
pub fn arp_request() -> Vec<u8> {
    let mut f = ethernet_header(None, 0x0806);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 10, 9, 0, 2]);
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 9, 0, 1]);
    f
}

/// An IPv6 UDP datagram to `dst_port` (fd00::1).
pub fn ipv6_udp(dst_port: u16) -> Vec<u8> {
    let mut f = ethernet_header(None, 0x86dd);
    let payload = b"netbase xdp test";
    let l4_len = (8 + payload.len()) as u16;
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&l4_len.to_be_bytes());
    f.extend_from_slice(&[17, 64]);
    let mut src = [0u8; 16];
    src[0] = 0xfd;
    src[15] = 2;
    let mut dst = src;
    dst[15] = 1;
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&dst_port.to_be_bytes());
    f.extend_from_slice(&l4_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// The Internet checksum of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
