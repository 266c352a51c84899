"""Consume ANPR reads from Kafka: ``python consumers/anpr_consumer.py [--config FILE]``.

Thin wiring only: the same as ``geomonitor consume anpr`` (see docs/deployment.md).
"""

import sys

from geomonitor.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["consume", "anpr", *sys.argv[1:]]))
