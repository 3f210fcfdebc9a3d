"""``python -m jsdata.server status|start|stop``."""

import sys

from .default import main

sys.exit(main())
