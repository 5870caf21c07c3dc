#!/usr/bin/env python3
"""The soak: the daemon for hours, its memory and files watched (the code: tools.soak)."""

import sys

from tools.soak import main

if __name__ == "__main__":
    sys.exit(main())
