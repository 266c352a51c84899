"""Kafka stream consumers: fixes and ANPR reads in; candidates, device events and dead
letters out, effectively once (see :mod:`geomonitor.io.kafka.base` for how).

The pipeline is the one ``geomonitor replay`` runs (decode -> engine -> store); this
package is the Kafka adapter around it, one consumer class per input kind on a shared
base:

* :class:`~.fixes.FixesConsumer`: zones, curfews and device health (a tag's own fixes
  decide them);
* :class:`~.anpr.AnprConsumer`: declared vehicles read in zones or during curfews;
* :class:`~.colocation.ColocationFollower`: non-association and undeclared vehicles, one
  per store, following the store rather than a topic.
"""

from __future__ import annotations

from ...model.errors import ConfigError
from ...store.domain import Store
from .anpr import AnprConsumer
from .base import Consumer, StreamStats, TopicConsumer
from .colocation import ColocationFollower
from .config import StreamConfig, load_config
from .fixes import FixesConsumer
from .messages import candidate_message, candidate_of, device_message, with_event_id
from .producer import ensure_topics, produce

#: The consumer class of each input kind.
CONSUMERS: dict[str, type[Consumer]] = {
    cls.kind: cls for cls in (FixesConsumer, AnprConsumer, ColocationFollower)
}
#: The rule families each kind of consumer runs.
FAMILIES_OF = {kind: cls.families for kind, cls in CONSUMERS.items()}


def open_consumer(cfg: StreamConfig, kind: str, store: Store | None = None) -> Consumer:
    """The consumer of ``kind`` (``fixes``, ``anpr`` or ``colocation``)."""
    if kind not in CONSUMERS:
        raise ValueError(f"kind must be fixes, anpr or colocation, not {kind!r}")
    return CONSUMERS[kind](cfg, store)


__all__ = [
    "CONSUMERS",
    "FAMILIES_OF",
    "AnprConsumer",
    "ColocationFollower",
    "ConfigError",
    "Consumer",
    "FixesConsumer",
    "StreamConfig",
    "StreamStats",
    "TopicConsumer",
    "candidate_message",
    "candidate_of",
    "device_message",
    "ensure_topics",
    "load_config",
    "open_consumer",
    "produce",
    "with_event_id",
]
