#!/usr/bin/env python3
"""Run the report's experiments into results/ (see `python build_results.py --help`)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from hw1.runner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
