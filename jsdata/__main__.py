"""``python -m jsdata``: the same command line as the ``jsdata`` script (see jsdata.cli)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
