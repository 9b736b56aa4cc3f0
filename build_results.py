#!/usr/bin/env python3
"""Run the report's experiments into results/ (see `python build_results.py --help`).

The hw1 package is installed into the virtual environment (`pip install --no-deps -e .`, done by
`make`), so nothing here touches sys.path.
"""

import sys

from hw1.runner import main

if __name__ == "__main__":
    sys.exit(main())
