"""``python -m jsdata.server status|start|stop``."""

import sys

from .embedded import main

sys.exit(main())
