"""Run the co-location rules (non-association, undeclared vehicles) over the store:
``python consumers/colocation_follower.py [--config FILE]``.

Thin wiring only: the same as ``geomonitor consume colocation`` (see docs/deployment.md).
Run exactly one per store, beside the fixes and ANPR consumers.
"""

import sys

from geomonitor.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["consume", "colocation", *sys.argv[1:]]))
