#!/usr/bin/env python3
"""Verify a disk image written by pvscsi-exercise (for example after a QEMU run with
--qemu-disk target=T,file=PATH): every block must be all zeros or carry a valid block stamp for
its own address. The stamp format is specified in stamp.h, beside this script.

usage: verify_image.py IMAGE [--block-size 512] [--seed N] [--target T] [--lun L] [--json]

Exit status: 0 every block is zeros or a valid stamp; 1 a bad block; 2 a usage error.
Only the Python standard library is used.
"""
import argparse
import json
import struct
import sys
import zlib

MAGIC = b"PVXSTAMP"
HEADER = struct.Struct("<8sHHIIIQQQQII")  # 64 bytes
K1, K2, K3 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
M64 = (1 << 64) - 1


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def expected_payload(seed, seq, lba, block_size):
    base = (seed * K1 + seq * K2 + lba * K3) & M64
    return b"".join(struct.pack("<Q", splitmix64((base + o) & M64)) for o in range(64, block_size, 8))


def check_block(block, lba, block_size, want):
    """Returns (kind, message): kind is 'zero', 'stamp', 'foreign' or 'bad'."""
    if block.count(0) == len(block):
        return "zero", ""
    if block[:8] != MAGIC:
        return "foreign", "lba %d: not a stamp" % lba
    (_, version, hlen, bsize, target, _r1, lun, slba, seq, seed, crc, _r2) = HEADER.unpack_from(block)
    if version != 1 or hlen != 64:
        return "bad", "lba %d: unknown stamp version %d / header length %d" % (lba, version, hlen)
    if bsize != block_size:
        return "bad", "lba %d: stamp for a %d-byte block" % (lba, bsize)
    computed = zlib.crc32(block[:56] + b"\0\0\0\0" + block[60:]) & 0xFFFFFFFF
    if computed != crc:
        return "bad", "lba %d: checksum 0x%08x stored, 0x%08x computed" % (lba, crc, computed)
    if block[64:] != expected_payload(seed, seq, slba, block_size):
        return "bad", "lba %d: payload does not match its header" % lba
    if slba != lba:
        return "bad", "lba %d: holds the block written for lba %d (misdirected)" % (lba, slba)
    for key, got in (("target", target), ("lun", lun), ("seed", seed)):
        if want.get(key) is not None and want[key] != got:
            return "bad", "lba %d: %s %d, expected %d" % (lba, key, got, want[key])
    return "stamp", ""


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("image")
    ap.add_argument("--block-size", type=int, default=512)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--target", type=int)
    ap.add_argument("--lun", type=int)
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if args.block_size < 64 or args.block_size % 8:
        print("verify_image: --block-size must be a multiple of 8, at least 64", file=sys.stderr)
        return 2
    want = {"target": args.target, "lun": args.lun, "seed": args.seed}
    counts = {"blocks": 0, "zero": 0, "stamp": 0, "foreign": 0, "bad": 0}
    problems = []
    max_seq = 0
    try:
        f = open(args.image, "rb")
    except OSError as e:
        print("verify_image: %s: %s" % (args.image, e.strerror), file=sys.stderr)
        return 2
    with f:
        lba = 0
        while True:
            block = f.read(args.block_size)
            if not block:
                break
            if len(block) < args.block_size:
                problems.append("trailing %d bytes after the last whole block" % len(block))
                break
            kind, msg = check_block(block, lba, args.block_size, want)
            counts["blocks"] += 1
            counts[kind] += 1
            if kind == "stamp":
                max_seq = max(max_seq, struct.unpack_from("<Q", block, 40)[0])
            if msg and kind == "bad":
                problems.append(msg)
            lba += 1
    counts["max_write_seq"] = max_seq
    if args.json:
        print(json.dumps(dict(counts, problems=problems[:20]), indent=2))
    else:
        print("%(blocks)d blocks: %(stamp)d stamped, %(zero)d zero, %(foreign)d foreign, "
              "%(bad)d bad; highest write %(max_write_seq)d" % counts)
        for p in problems[:20]:
            print("  " + p)
    return 1 if counts["bad"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
