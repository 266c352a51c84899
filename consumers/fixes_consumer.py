"""Consume tag fixes from Kafka: ``python consumers/fixes_consumer.py [--config FILE]``.

Thin wiring only: the same as ``geomonitor consume fixes`` (see docs/deployment.md).
"""

import sys

from geomonitor.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["consume", "fixes", *sys.argv[1:]]))
