"""``python -m geomonitor.app.cli``."""

import sys

from . import main

sys.exit(main())
