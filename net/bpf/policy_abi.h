/* SPDX-License-Identifier: Apache-2.0 */
/* The layout shared by the TC program (policy.bpf.c) and its loader (ebpf_policy.cpp).
 * Plain C, fixed-width types only: the BPF side includes it after vmlinux-free linux/types.h,
 * the C++ side after <linux/types.h>. Changing a struct here changes both sides at once. */
#ifndef NEXUS_NET_BPF_POLICY_ABI_H
#define NEXUS_NET_BPF_POLICY_ABI_H

#include <linux/types.h>

/* Rules in one rule set, the default-deny rules included. */
#define NX_MAX_RULES 256
/* Rules that may cover one prefix (a prefix's list holds every rule whose CIDR contains it). */
#define NX_MAX_PREFIX_RULES 64
/* Entries per LPM trie: two generations x two directions x NX_MAX_RULES prefixes. */
#define NX_LPM_MAX_ENTRIES (4 * NX_MAX_RULES)
/* Connections tracked per sandbox (LRU: the oldest are forgotten first). */
#define NX_CT_MAX_ENTRIES 16384
/* IPv6 extension headers walked before giving up (and dropping). */
#define NX_MAX_EXT_HDRS 6

/* Directions, from the sandbox's point of view. */
#define NX_DIR_EGRESS 0  /* sandbox -> world: TC ingress hook of the host-side veth */
#define NX_DIR_INGRESS 1 /* world -> sandbox: TC egress hook of the host-side veth */

#define NX_ACT_ALLOW 0
#define NX_ACT_DENY 1

/* nx_rule_entry.proto: an IP protocol number, or 0 for any. */
#define NX_PROTO_ANY 0

struct nx_rule_entry {
  __u16 port_lo; /* destination port range, inclusive; 0-65535 for any port */
  __u16 port_hi;
  __u8 proto;  /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 or NX_PROTO_ANY */
  __u8 action; /* NX_ACT_* */
  __u16 index; /* the rule's index in the rule set: its counter slot */
};

/* The value of an LPM entry: the rules covering the prefix, in decision order. */
struct nx_prefix_rules {
  __u32 count;
  struct nx_rule_entry rules[NX_MAX_PREFIX_RULES];
};

/* LPM keys: tag = (generation parity << 1) | direction, always matched in full (32 bits), then
 * the address. prefixlen counts the tag's 32 bits plus the CIDR's prefix length. */
struct nx_lpm4_key {
  __u32 prefixlen;
  __u32 tag;
  __u8 addr[4];
};
struct nx_lpm6_key {
  __u32 prefixlen;
  __u32 tag;
  __u8 addr[16];
};

struct nx_counter {
  __u64 packets;
  __u64 bytes;
};

/* Slots of the stats map (per-CPU nx_counter). */
enum nx_stat {
  NX_STAT_EGRESS_DEFAULT = 0,   /* egress packets no rule matched (the egress default action) */
  NX_STAT_INGRESS_DEFAULT,      /* ingress packets no rule matched (the ingress default action) */
  NX_STAT_EGRESS_REPLY,         /* egress packets passed as replies of allowed ingress flows */
  NX_STAT_INGRESS_REPLY,        /* ingress packets passed as replies of allowed egress flows */
  NX_STAT_ARP,                  /* ARP, passed */
  NX_STAT_NDP,                  /* IPv6 neighbour discovery, passed */
  NX_STAT_NON_IP,               /* other ethertypes, dropped */
  NX_STAT_FRAGMENT,             /* IPv4 fragments and IPv6 fragment headers, dropped */
  NX_STAT_MALFORMED,            /* truncated headers, too many extension headers, dropped */
  NX_STAT_RELATED,              /* ICMP errors about a tracked flow, passed */
  NX_STAT_COUNT
};

/* Connection tracking, from the sandbox's side: l* = sandbox address/port, r* = remote. For ICMP
 * echo lport is the echo identifier and rport 0. */
struct nx_ct_key {
  __u8 family; /* 4 or 6 */
  __u8 proto;
  __u16 lport;
  __u16 rport;
  __u16 pad;
  __u8 laddr[16];
  __u8 raddr[16];
};
struct nx_ct_value {
  __u64 last_seen_ns; /* refreshed by packets of the direction that opened the flow */
  __u8 origin;        /* NX_DIR_* of the first allowed packet */
  __u8 pad[7];
};

/* Replies are accepted this long after the opening side last sent something. */
#define NX_CT_TIMEOUT_TCP_NS (3600ULL * 1000000000ULL)
#define NX_CT_TIMEOUT_UDP_NS (120ULL * 1000000000ULL)
#define NX_CT_TIMEOUT_ICMP_NS (30ULL * 1000000000ULL)

#endif
