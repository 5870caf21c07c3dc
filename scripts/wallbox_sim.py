#!/usr/bin/env python3
"""The simulated wallbox on Modbus TCP and RTU (the code: rigs.wallbox_sim)."""

import sys

from rigs.wallbox_sim import main

if __name__ == "__main__":
    sys.exit(main())
