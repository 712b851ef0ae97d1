"""Child process of the kill -9 test: writes until killed (see ``index_fixtures.run_child``).

Usage: python index_crash_child.py DATA_DIR SEED
"""

from __future__ import annotations

import sys
from pathlib import Path

from index_fixtures import run_child

if __name__ == "__main__":
    run_child(Path(sys.argv[1]), int(sys.argv[2]))
