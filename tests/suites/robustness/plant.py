#!/usr/bin/env python3
"""Plant a known concurrency bug in a copy of a driver source file.

The schedule explorer (scripts/explore.sh) must catch a driver that drops its lock where it
must not; this makes such a driver from the real one, so the proof follows the driver as it
changes. Each plant names an anchor line that must occur exactly once; the plant inserts its
lines after it. A missing or repeated anchor is an error (the driver changed: update the plant).

    plant.py NAME IN OUT
"""
import pathlib
import sys

PLANTS = {
    # pvscsi_process_rings: the completion ring's consumer state (cmp_cons, the context table)
    # is left unguarded between reading a descriptor and retiring its command. Another reaper
    # (the interrupt handler, a polled probe, the watchdog) can consume the same entry meanwhile.
    "completion-lock-drop": (
        "    uint64_t ctx = c.context();\n",
        "    mutex_exit(&sc->lock); /* planted race: the consumer state is unguarded here */\n"
        "    mutex_enter(&sc->lock);\n",
    ),
}


def plant(name: str, text: str) -> str:
    anchor, lines = PLANTS[name]
    count = text.count(anchor)
    if count != 1:
        raise ValueError(f"plant {name}: anchor {anchor.strip()!r} occurs {count} times, not once")
    return text.replace(anchor, anchor + lines)


def main(argv: list) -> int:
    if len(argv) != 4 or argv[1] not in PLANTS:
        print(f"usage: plant.py {{{'|'.join(PLANTS)}}} IN OUT", file=sys.stderr)
        return 2
    try:
        src = pathlib.Path(argv[2]).read_text()
        out = plant(argv[1], src)
    except (OSError, ValueError) as e:
        print(f"plant.py: {e}", file=sys.stderr)
        return 1
    dest = pathlib.Path(argv[3])
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
