#!/usr/bin/env python3
"""A field day: the field corpus's devices against the judgement (the code: tools.field_day)."""

import sys

from tools.field_day import main

if __name__ == "__main__":
    sys.exit(main())
