/* SPDX-License-Identifier: Apache-2.0 */
/* Nexus L3/L4 policy: two TC classifiers on the host-side end of a sandbox's veth.
 *
 *   nx_egress   TC ingress hook of the host-side veth = packets the sandbox sends
 *   nx_ingress  TC egress hook of the host-side veth  = packets sent to the sandbox
 *
 * Per packet: ARP and IPv6 neighbour discovery pass; other non-IP, fragments and malformed
 * headers are dropped. A packet that answers a flow the other direction opened (the conntrack
 * LRU) passes, and so does an ICMP error quoting a tracked flow. Otherwise the LPM trie of the active generation gives the rules covering the
 * remote address in decision order; the first whose protocol and destination port match decides;
 * no match gives the direction's default action. Allowed packets open or refresh their flow.
 * Layout of the maps: policy_abi.h; the reasoning: net/README.md. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "policy_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __type(key, struct nx_lpm4_key);
  __type(value, struct nx_prefix_rules);
  __uint(max_entries, NX_LPM_MAX_ENTRIES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} nx_lpm4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __type(key, struct nx_lpm6_key);
  __type(value, struct nx_prefix_rules);
  __uint(max_entries, NX_LPM_MAX_ENTRIES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} nx_lpm6 SEC(".maps");

/* Index: (generation parity * NX_MAX_RULES) + rule index. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __type(key, __u32);
  __type(value, struct nx_counter);
  __uint(max_entries, 2 * NX_MAX_RULES);
} nx_rule_cnt SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __type(key, __u32);
  __type(value, struct nx_counter);
  __uint(max_entries, NX_STAT_COUNT);
} nx_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __type(key, struct nx_ct_key);
  __type(value, struct nx_ct_value);
  __uint(max_entries, NX_CT_MAX_ENTRIES);
} nx_conntrack SEC(".maps");

/* Written by the loader through the mmapped .data section: first the default actions of the
 * generation being prepared, then the generation (a single aligned 32-bit store). */
volatile __u32 nx_active_gen = 0;
volatile __u8 nx_default_action[4] = {NX_ACT_ALLOW, NX_ACT_DENY, NX_ACT_ALLOW, NX_ACT_DENY};

#define NX_PASS TC_ACT_UNSPEC /* not ours to drop: the next filter, if any, decides */
#define NX_DROP TC_ACT_SHOT

enum parse_result { P_IP = 0, P_ARP, P_NDP, P_NON_IP, P_FRAGMENT, P_MALFORMED };

struct pkt {
  __u8 family;
  __u8 proto;
  __u8 trackable;  /* tcp, udp, icmp echo */
  __u8 icmp_error; /* an ICMP error quoting a tcp/udp/echo packet: the inner_* fields are set */
  __u16 sport; /* host order; for ICMP echo sport = dport = identifier */
  __u16 dport;
  __u8 saddr[16];
  __u8 daddr[16];
  /* The packet an ICMP error quotes (it went the other way). */
  __u8 inner_proto;
  __u16 inner_sport;
  __u16 inner_dport;
  __u8 inner_saddr[16];
  __u8 inner_daddr[16];
};

struct ip4 { /* the fields of struct iphdr we need, without bitfields */
  __u8 vihl;
  __u8 tos;
  __u16 tot_len;
  __u16 id;
  __u16 frag_off;
  __u8 ttl;
  __u8 protocol;
  __u16 check;
  __u8 saddr[4];
  __u8 daddr[4];
};

struct ip6 {
  __u32 vtcfl;
  __u16 payload_len;
  __u8 nexthdr;
  __u8 hop_limit;
  __u8 saddr[16];
  __u8 daddr[16];
};

static __always_inline void count(void* map, __u32 slot, struct __sk_buff* skb) {
  struct nx_counter* c = bpf_map_lookup_elem(map, &slot);
  if (!c) return;
  c->packets += skb->gso_segs ? skb->gso_segs : 1;
  c->bytes += skb->len;
}

/* The ports (or the echo identifier) of a quoted tcp/udp/echo header at `off`; 0 if none. */
static __always_inline int parse_quoted_l4(struct __sk_buff* skb, __u32 off, struct pkt* p) {
  __u16 w[3];
  if (p->inner_proto == IPPROTO_TCP || p->inner_proto == IPPROTO_UDP) {
    if (bpf_skb_load_bytes(skb, off, w, 4)) return 0;
    p->inner_sport = bpf_ntohs(w[0]);
    p->inner_dport = bpf_ntohs(w[1]);
    return 1;
  }
  if (p->inner_proto == IPPROTO_ICMP || p->inner_proto == IPPROTO_ICMPV6) {
    if (bpf_skb_load_bytes(skb, off, w, 6)) return 0;
    __u8 t = (__u8)(bpf_ntohs(w[0]) >> 8);
    if (t != 8 && t != 0 && t != 128 && t != 129) return 0;
    p->inner_sport = p->inner_dport = bpf_ntohs(w[2]);
    return 1;
  }
  return 0;
}

/* ICMP destination unreachable / time exceeded / parameter problem (and ICMPv6 packet too big):
 * the quoted header after the 8-byte ICMP header names the flow. */
static __always_inline void parse_icmp_error(struct __sk_buff* skb, __u32 off, struct pkt* p) {
  if (p->family == 4) {
    struct ip4 in;
    if (bpf_skb_load_bytes(skb, off, &in, sizeof(in))) return;
    if ((in.vihl >> 4) != 4 || (in.vihl & 0xf) < 5) return;
    p->inner_proto = in.protocol;
    __builtin_memcpy(p->inner_saddr, in.saddr, 4);
    __builtin_memcpy(p->inner_daddr, in.daddr, 4);
    p->icmp_error = parse_quoted_l4(skb, off + (in.vihl & 0xf) * 4, p);
  } else {
    struct ip6 in;
    if (bpf_skb_load_bytes(skb, off, &in, sizeof(in))) return;
    p->inner_proto = in.nexthdr; /* quoted extension headers: not followed */
    __builtin_memcpy(p->inner_saddr, in.saddr, 16);
    __builtin_memcpy(p->inner_daddr, in.daddr, 16);
    p->icmp_error = parse_quoted_l4(skb, off + sizeof(in), p);
  }
}

static __always_inline int parse_l4(struct __sk_buff* skb, __u32 off, struct pkt* p) {
  if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) {
    __u16 ports[2];
    if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports))) return P_MALFORMED;
    p->sport = bpf_ntohs(ports[0]);
    p->dport = bpf_ntohs(ports[1]);
    p->trackable = 1;
    return P_IP;
  }
  if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
    __u8 type_code[2];
    if (bpf_skb_load_bytes(skb, off, type_code, sizeof(type_code))) return P_MALFORMED;
    __u8 t = type_code[0];
    /* Neighbour discovery (133-137) and multicast listener discovery (130-132, 143): the
     * link's own control traffic, which the kernels on both ends send by themselves. */
    if (p->proto == IPPROTO_ICMPV6 && ((t >= 133 && t <= 137) || (t >= 130 && t <= 132) || t == 143)) return P_NDP;
    int error = p->proto == IPPROTO_ICMP ? (t == 3 || t == 11 || t == 12) : (t >= 1 && t <= 4);
    if (error) {
      parse_icmp_error(skb, off + 8, p);
      return P_IP;
    }
    int echo = p->proto == IPPROTO_ICMP ? (t == 8 || t == 0) : (t == 128 || t == 129);
    if (echo) {
      __u16 ident;
      if (bpf_skb_load_bytes(skb, off + 4, &ident, sizeof(ident))) return P_MALFORMED;
      p->sport = p->dport = bpf_ntohs(ident);
      p->trackable = 1;
    }
  }
  return P_IP;
}

static __always_inline int parse(struct __sk_buff* skb, struct pkt* p) {
  if (skb->protocol == bpf_htons(ETH_P_ARP)) return P_ARP;
  if (skb->protocol == bpf_htons(ETH_P_IP)) {
    struct ip4 ip;
    if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip))) return P_MALFORMED;
    if ((ip.vihl >> 4) != 4 || (ip.vihl & 0xf) < 5) return P_MALFORMED;
    if (ip.frag_off & bpf_htons(0x3fff)) return P_FRAGMENT; /* MF set or an offset */
    p->family = 4;
    p->proto = ip.protocol;
    __builtin_memcpy(p->saddr, ip.saddr, 4);
    __builtin_memcpy(p->daddr, ip.daddr, 4);
    return parse_l4(skb, ETH_HLEN + (ip.vihl & 0xf) * 4, p);
  }
  if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
    struct ip6 ip;
    if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip))) return P_MALFORMED;
    p->family = 6;
    __builtin_memcpy(p->saddr, ip.saddr, 16);
    __builtin_memcpy(p->daddr, ip.daddr, 16);
    __u8 next = ip.nexthdr;
    __u32 off = ETH_HLEN + sizeof(ip);
    int i;
    for (i = 0; i < NX_MAX_EXT_HDRS; i++) {
      __u8 ext[2];
      if (next == IPPROTO_FRAGMENT) return P_FRAGMENT;
      if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
          next != IPPROTO_AH)
        break;
      if (bpf_skb_load_bytes(skb, off, ext, sizeof(ext))) return P_MALFORMED;
      off += next == IPPROTO_AH ? ((__u32)ext[1] + 2) * 4 : ((__u32)ext[1] + 1) * 8;
      next = ext[0];
    }
    if (i == NX_MAX_EXT_HDRS) return P_MALFORMED;
    p->proto = next;
    return parse_l4(skb, off, p);
  }
  return P_NON_IP;
}

/* The first matching rule of the prefix list covering `addr`: its action, or -1. */
static __always_inline int match_rules(struct nx_prefix_rules* pr, struct pkt* p, __u16* index) {
  __u32 n = pr->count;
  for (int i = 0; i < NX_MAX_PREFIX_RULES; i++) {
    if (i >= n) break;
    struct nx_rule_entry* r = &pr->rules[i];
    if (r->proto != NX_PROTO_ANY && r->proto != p->proto) continue;
    if (p->dport < r->port_lo || p->dport > r->port_hi) continue;
    *index = r->index;
    return r->action;
  }
  return -1;
}

static __always_inline int lookup_rules(__u8 dir, __u32 parity, struct pkt* p, __u16* index) {
  const __u8* remote = dir == NX_DIR_EGRESS ? p->daddr : p->saddr;
  struct nx_prefix_rules* pr;
  if (p->family == 4) {
    struct nx_lpm4_key k = {.prefixlen = 64, .tag = (parity << 1) | dir};
    __builtin_memcpy(k.addr, remote, 4);
    pr = bpf_map_lookup_elem(&nx_lpm4, &k);
  } else {
    struct nx_lpm6_key k = {.prefixlen = 32 + 128, .tag = (parity << 1) | dir};
    __builtin_memcpy(k.addr, remote, 16);
    pr = bpf_map_lookup_elem(&nx_lpm6, &k);
  }
  if (!pr) return -1;
  return match_rules(pr, p, index);
}

static __always_inline __u64 ct_timeout(__u8 proto) {
  if (proto == IPPROTO_TCP) return NX_CT_TIMEOUT_TCP_NS;
  if (proto == IPPROTO_UDP) return NX_CT_TIMEOUT_UDP_NS;
  return NX_CT_TIMEOUT_ICMP_NS;
}

static __always_inline int handle(struct __sk_buff* skb, __u8 dir) {
  struct pkt p = {};
  switch (parse(skb, &p)) {
    case P_IP: break;
    case P_ARP: count(&nx_stats, NX_STAT_ARP, skb); return NX_PASS;
    case P_NDP: count(&nx_stats, NX_STAT_NDP, skb); return NX_PASS;
    case P_NON_IP: count(&nx_stats, NX_STAT_NON_IP, skb); return NX_DROP;
    case P_FRAGMENT: count(&nx_stats, NX_STAT_FRAGMENT, skb); return NX_DROP;
    default: count(&nx_stats, NX_STAT_MALFORMED, skb); return NX_DROP;
  }

  /* The flow, seen from the sandbox. */
  struct nx_ct_key ck = {.family = p.family, .proto = p.proto};
  if (dir == NX_DIR_EGRESS) {
    ck.lport = p.sport; ck.rport = p.dport;
    __builtin_memcpy(ck.laddr, p.saddr, 16);
    __builtin_memcpy(ck.raddr, p.daddr, 16);
  } else {
    ck.lport = p.dport; ck.rport = p.sport;
    __builtin_memcpy(ck.laddr, p.daddr, 16);
    __builtin_memcpy(ck.raddr, p.saddr, 16);
  }
  if (p.proto == IPPROTO_ICMP || p.proto == IPPROTO_ICMPV6) ck.rport = 0;

  __u64 now = bpf_ktime_get_ns();
  if (p.icmp_error) {
    /* The quoted packet went the other way: on ingress the sandbox sent it. */
    struct nx_ct_key ik = {.family = p.family, .proto = p.inner_proto};
    if (dir == NX_DIR_INGRESS) {
      ik.lport = p.inner_sport; ik.rport = p.inner_dport;
      __builtin_memcpy(ik.laddr, p.inner_saddr, 16);
      __builtin_memcpy(ik.raddr, p.inner_daddr, 16);
    } else {
      ik.lport = p.inner_dport; ik.rport = p.inner_sport;
      __builtin_memcpy(ik.laddr, p.inner_daddr, 16);
      __builtin_memcpy(ik.raddr, p.inner_saddr, 16);
    }
    if (p.inner_proto == IPPROTO_ICMP || p.inner_proto == IPPROTO_ICMPV6) ik.rport = 0;
    struct nx_ct_value* rel = bpf_map_lookup_elem(&nx_conntrack, &ik);
    if (rel && now - rel->last_seen_ns < ct_timeout(p.inner_proto)) {
      count(&nx_stats, NX_STAT_RELATED, skb);
      return NX_PASS;
    }
  }

  struct nx_ct_value* ct = 0;
  if (p.trackable) {
    ct = bpf_map_lookup_elem(&nx_conntrack, &ck);
    if (ct && ct->origin != dir && now - ct->last_seen_ns < ct_timeout(p.proto)) {
      count(&nx_stats, dir == NX_DIR_EGRESS ? NX_STAT_EGRESS_REPLY : NX_STAT_INGRESS_REPLY, skb);
      return NX_PASS;
    }
  }

  __u32 parity = nx_active_gen & 1;
  __u16 index = 0;
  int action = lookup_rules(dir, parity, &p, &index);
  if (action < 0) {
    action = nx_default_action[(parity << 1) | dir];
    count(&nx_stats, dir == NX_DIR_EGRESS ? NX_STAT_EGRESS_DEFAULT : NX_STAT_INGRESS_DEFAULT, skb);
  } else {
    count(&nx_rule_cnt, parity * NX_MAX_RULES + index, skb);
  }

  if (action == NX_ACT_ALLOW) {
    if (p.trackable) {
      if (ct && ct->origin == dir) {
        ct->last_seen_ns = now;
      } else {
        struct nx_ct_value v = {.last_seen_ns = now, .origin = dir};
        bpf_map_update_elem(&nx_conntrack, &ck, &v, BPF_ANY);
      }
    }
    return NX_PASS;
  }
  /* Denied now: a flow this side opened under earlier rules stops taking replies too. */
  if (ct && ct->origin == dir) bpf_map_delete_elem(&nx_conntrack, &ck);
  return NX_DROP;
}

SEC("tc")
int nx_egress(struct __sk_buff* skb) { return handle(skb, NX_DIR_EGRESS); }

SEC("tc")
int nx_ingress(struct __sk_buff* skb) { return handle(skb, NX_DIR_INGRESS); }
