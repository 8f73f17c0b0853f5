#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Writes the seed corpora for fuzz_virtqueue and fuzz_virtio_blk (input formats: see the
# comments at the top of those files). Run from anywhere; rewrites the generated seeds.
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

NEXT, WRITE, INDIRECT = 1, 2, 4
EVENT_IDX, MASK, OWN, UNDO = 1, 2, 4, 8
DATA = 0x8000  # where fuzz_virtqueue copies the data-area bytes


def desc(addr, length, flags=0, nxt=0):
    return struct.pack('<QIHH', addr, length, flags, nxt)


def vq(name, size_log2, flags, avail_idx, descs, ring, data=b'', avail_flags=0, used_event=0,
       addrs=None):
    size = 1 << size_log2
    out = struct.pack('<BBHHH', size_log2, flags, avail_idx, avail_flags, used_event)
    if addrs:
        out += struct.pack('<III', *addrs)
    table = b''.join(descs)
    out += table.ljust(16 * size, b'\0')[:16 * size]
    out += b''.join(struct.pack('<H', h) for h in ring).ljust(2 * size, b'\0')[:2 * size]
    out += data
    write('virtqueue', name, out)


def write(corpus, name, data):
    d = os.path.join(HERE, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def virtqueue_seeds():
    vq('empty', 0, 0, 0, [], [])
    # Three chains: readable+writable, indirect (table in the data area), one buffer in the
    # high region.
    table = desc(0x8400, 32, NEXT, 1) + desc(0x8500, 100, NEXT | WRITE, 2) + desc(0x8600, 1, WRITE)
    data = bytes(0x1000) + table
    chains = [desc(0x8000, 64, NEXT, 1), desc(0x8100, 128, WRITE), desc(0x9000, 48, INDIRECT),
              desc(0, 0), desc(0, 0), desc(0x100000, 4096, WRITE)]
    vq('three_chains', 4, 0, 3, chains, [0, 2, 5], data)
    vq('three_chains_event_idx_undo', 4, EVENT_IDX | UNDO, 3, chains, [0, 2, 5], data,
       used_event=1)
    vq('no_interrupt', 4, 0, 1, chains, [0], data, avail_flags=1)
    vq('loop', 3, 0, 1, [desc(0x8000, 8, NEXT, 1), desc(0x8000, 8, NEXT, 0)], [0])
    vq('too_far_ahead', 3, 0, 9, [], [])
    vq('head_out_of_range', 3, 0, 1, [], [8])
    vq('addr_outside', 3, 0, 1, [desc(0x20000, 8)], [0])
    vq('addr_overflow', 3, 0, 1, [desc(0xfffffffffffffff8, 16, WRITE)], [0])
    vq('readable_after_writable', 3, 0, 1,
       [desc(0x8000, 8, NEXT | WRITE, 1), desc(0x8100, 8)], [0])
    nested = bytes(0x1000) + desc(0x9000, 16, INDIRECT)
    vq('nested_indirect', 3, 0, 1, [desc(0x9000, 16, INDIRECT)], [0], nested)
    vq('indirect_bad_len', 3, 0, 1, [desc(0x9000, 24, INDIRECT)], [0], bytes(0x1100))
    vq('full_ring', 8, EVENT_IDX, 256,
       [desc(0x8000 + 16 * i, 16, WRITE if i % 2 else 0) for i in range(256)], list(range(256)))
    vq('masked', 4, MASK, 4, [desc(0x8000 + 0x20000 * i, 0x100 * i, i % 8, i + 1)
                              for i in range(16)], [0, 3, 7, 15], bytes(64))
    vq('own_addrs', 2, OWN, 2, [desc(0x9000, 32, NEXT, 1), desc(0x9100, 32, WRITE)], [0, 1],
       addrs=(0xa000, 0xa100, 0xa200))


def blk_request(type_sel, sector, segs, payload=b'', kick=False, indirect=False):
    """segs: list of (len, writable)."""
    out = bytes([type_sel])
    if sector is None or sector > 31:
        out += bytes([0x80]) + struct.pack('<Q', sector or 0)
    else:
        out += bytes([sector])
    mode = (len(segs) - 1) | (8 if indirect else 0) | (0x10 if kick else 0)
    out += bytes([mode])
    for length, writable in segs:
        out += struct.pack('<H', length | (0x8000 if writable else 0))
    return out + payload


IN, OUT, FLUSH, GET_ID, DISCARD = 0, 1, 2, 3, 6  # type selectors


def blk_seeds():
    R, W = False, True
    write('virtio_blk', 'empty', b'')
    write('virtio_blk', 'read', b'\0' + blk_request(IN, 2, [(16, R), (512, W), (1, W)]))
    write('virtio_blk', 'write_then_read', b'\0' +
          blk_request(OUT, 3, [(16, R), (512, R), (1, W)], bytes(range(256)) * 2, kick=True) +
          blk_request(IN, 3, [(16, R), (1024, W), (1, W)]))
    write('virtio_blk', 'flush_get_id_discard', b'\2' +
          blk_request(FLUSH, 0, [(16, R), (1, W)]) +
          blk_request(GET_ID, 0, [(16, R), (20, W), (1, W)]) +
          blk_request(DISCARD, 0, [(16, R), (16, R), (1, W)], bytes(16)) +
          blk_request(7 + 8 * 5, 0, [(16, R), (1, W)]))
    write('virtio_blk', 'split_header_many_segments', b'\0' +
          blk_request(IN, 1, [(5, R), (11, R), (100, W), (412, W), (511, W), (2, W)]) +
          blk_request(OUT, 8, [(300, R), (228, R), (1, W)], bytes([0x5a]) * 512))
    write('virtio_blk', 'no_status_byte', b'\0' +
          blk_request(OUT, 0, [(16, R), (512, R)], bytes(512)) +
          blk_request(IN, 0, [(16, R), (513, W)]))
    write('virtio_blk', 'read_only_write', b'\1' +
          blk_request(OUT, 0, [(16, R), (512, R), (1, W)], bytes([1]) * 512) +
          blk_request(IN, 0, [(16, R), (512, W), (1, W)]))
    write('virtio_blk', 'out_of_range', b'\0' +
          blk_request(IN, 16, [(16, R), (512, W), (1, W)]) +
          blk_request(IN, 15, [(16, R), (1024, W), (1, W)]) +
          blk_request(OUT, 0xffffffffffffffff, [(16, R), (512, R), (1, W)], bytes(512)) +
          blk_request(IN, 0, [(16, R), (100, W), (1, W)]) +
          blk_request(IN, 0, [(8, R), (1, W)]))
    write('virtio_blk', 'indirect_event_idx', b'\2' +
          blk_request(IN, 4, [(16, R), (512, W), (1, W)], indirect=True, kick=True) +
          blk_request(OUT, 5, [(528, R), (1, W)], bytes([7]) * 512, indirect=True))
    many = b'\2'
    for i in range(40):
        many += blk_request(IN if i % 3 else OUT, i % 16, [(16, R), (512, R if i % 3 == 0 else W),
                                                           (1, W)],
                            bytes([i]) * 512 if i % 3 == 0 else b'', kick=i % 10 == 9)
    write('virtio_blk', 'many_batches', many)


virtqueue_seeds()
blk_seeds()
