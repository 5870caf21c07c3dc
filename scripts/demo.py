#!/usr/bin/env python3
"""The main job with no hardware (scripts/demo.sh runs it after the set-up) (the code: tools.demo)."""

import sys

from tools.demo import main

if __name__ == "__main__":
    sys.exit(main())
