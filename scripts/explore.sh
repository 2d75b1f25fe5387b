#!/usr/bin/env bash
# Schedule exploration: one exerciser scenario under N scheduler seeds (see scripts/explore.py).
#   scripts/explore.sh --seeds 200 -- --ops 600 --qd 16 --latency-us 100 --at 300:reset-bus
exec python3 "$(dirname "$0")/explore.py" "$@"
