"""Entry point for `python3 -m gen`."""

import sys

from gen.cli import main

sys.exit(main())
