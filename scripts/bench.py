#!/usr/bin/env python3
"""The bench: the figures in docs/figures.md, --json for all of them (the code: tools.bench)."""

import sys

from tools.bench import main

if __name__ == "__main__":
    sys.exit(main())
