#!/usr/bin/env python3
"""Support's backend: serve, and support's command line (list, show, ask, ...) (the code: backend.__main__)."""

import sys

from backend.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
