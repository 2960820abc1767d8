/*
 * Input for generate.rs (bindgen): the Linux UAPI headers netbase needs.
 *
 * Only <linux/...> headers are used for networking definitions: mixing
 * <linux/if.h> with glibc's <net/if.h> redefines `struct ifreq`, IFF_* etc.
 * <sys/socket.h> is included solely for the AF_* address-family constants,
 * which the kernel exports to userspace only through the C library.
 *
 * Order matters only for readability of the generated file; keep it stable
 * (the output must be byte-identical for the same headers and toolchain).
 */
#include <sys/socket.h>

#include <linux/types.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/neighbour.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/nexthop.h>
#include <linux/fib_rules.h>
#include <linux/lwtunnel.h>
#include <linux/if_xdp.h>
#include <linux/bpf.h>
