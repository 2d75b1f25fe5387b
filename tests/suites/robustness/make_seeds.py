#!/usr/bin/env python3
"""Writes the seed corpus for the hostile-device fuzz target (scenario.h documents the bytes).
Each seed is one short, readable scenario; libFuzzer grows the rest. Usage: make_seeds.py DIR"""
import os
import sys

READ, WRITE, POLLED, RINGS, CMP, MSG, CMDSTS, INTR, FAULT, ADVANCE, RESET, ABORT, POLL, HOTPLUG = range(14)


def adv(ms):
    v = ms // 2
    return [ADVANCE, v & 0xFF, v >> 8]


def io(n):
    out = []
    for i in range(n):
        out += [READ if i % 2 else WRITE, i * 3, i % 8]
    return out


SEEDS = {
    # header: config selector, pre-attach byte
    "plain-vmware-io": [0x00, 0x00] + io(8) + adv(10) + [POLL],
    "plain-qemu-io": [0x01, 0x00] + io(8) + adv(10) + [POLL],
    "intx-only-two-targets": [0x24, 0x00] + io(6) + [INTR, 0x81] + adv(5),
    "msix-latency-reorder": [0x1e, 0x00] + io(8) + adv(4) + io(4) + adv(50),
    "polled": [0x00, 0x00, POLLED, 3, POLLED, 9] + io(2) + [POLLED, 1] + adv(5),
    "forged-completions": [0x08, 0x00] + io(4) + [CMP, 0, 1, 0, 0, 0, 0xC0, CMP, 0, 0x85, 0x11, 0, 2, 0xC1] + adv(20),
    "forged-messages": [0x00, 0x00, MSG, 0, 0, 5, 0, 0x80, MSG, 0, 1, 5, 0, 0x80, MSG, 0, 0xF3, 200, 9, 0x81] + adv(300) + io(2),
    "rings-state-garbage": [0x00, 0x00] + io(4) + [RINGS, 12, 4, 0xFF, 0xFF, 0xFF, 0x7F, RINGS, 8, 4, 31, 0, 0, 0, INTR, 1] + adv(100),
    "hung-timeout-escalation": [0x00, 0x00, FAULT, 0, 2, FAULT, 8, 0x05] + io(4) + adv(6000) + adv(6000) + adv(6000),
    "resets-and-aborts": [0x08, 0x00] + io(6) + [RESET, 0, ABORT] + io(4) + [RESET, 1, RESET, 2] + adv(20),
    "spontaneous-reset": [0x00, 0x00] + io(6) + [FAULT, 9, 0] + adv(100) + io(4) + adv(10),
    "bogus-contexts": [0x00, 0x00] + io(4) + [FAULT, 2, 0, FAULT, 2, 1, FAULT, 3, 77, FAULT, 4, 0] + adv(6000) + adv(6000),
    "attach-status-lie": [0x00, 0x03, 0xFF, 0xFF, 0xFF, 0xFF] + io(2),
    "config-page-lie": [0x00, 0x40, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0] + io(2),
    "reset-status-lie": [0x00, 0x00] + io(4) + [CMDSTS, 0xFE, 0xFF, 0xFF, 0xFF, RESET, 2] + adv(100),
    "hotplug-under-io": [0x20, 0x00] + io(4) + [HOTPLUG, 0, 0, HOTPLUG, 1, 0, HOTPLUG, 2, 0, HOTPLUG, 3, 0] + adv(400) + io(4),
    "dropped-interrupts": [0x02, 0x00, FAULT, 6, 7] + io(6) + adv(2000) + [FAULT, 7, 3] + io(4) + adv(100),
    "log2-lies": [0x00, 0x00, FAULT, 5, 0xFF] + io(4) + [FAULT, 5, 0x00] + adv(1000),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes(b & 0xFF for b in data))


if __name__ == "__main__":
    main()
