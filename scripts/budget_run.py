#!/usr/bin/env python3
"""One box a week on a metered link, through the data budget (the code: tools.budget_run)."""

import sys

from tools.budget_run import main

if __name__ == "__main__":
    sys.exit(main())
