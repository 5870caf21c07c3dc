#!/usr/bin/env python3
"""Thousands of boxes on a virtual clock, or N real agents with --real (the code: tools.fleet)."""

import sys

from tools.fleet import main

if __name__ == "__main__":
    sys.exit(main())
