"""Publishing input files to the topics, and creating the topics."""

from __future__ import annotations

from pathlib import Path

import orjson

from ..sources import iter_records
from .config import StreamConfig, broker_errors, client_options


def ensure_topics(cfg: StreamConfig, partitions: int) -> None:
    """Create the input and output topics that do not exist yet."""
    with broker_errors(cfg):
        _ensure_topics(cfg, partitions)


def _ensure_topics(cfg: StreamConfig, partitions: int) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(**client_options(cfg), client_id=cfg.client_id)
    try:
        have = set(admin.list_topics())
        names = [
            cfg.fixes_topic,
            cfg.anpr_topic,
            cfg.candidates_topic,
            cfg.device_events_topic,
            cfg.deadletter_topic,
        ]
        new = [NewTopic(n, partitions, 1) for n in names if n not in have]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def produce(
    cfg: StreamConfig, fixes: str | Path | None = None, anpr: str | Path | None = None
) -> dict[str, int]:
    """Publish fix and read files (JSONL, CSV, gzip) to the input topics, keyed by tag and
    by camera; records that do not decode are published as they are (the consumer
    dead-letters them). Returns how many messages went to each topic."""
    with broker_errors(cfg):
        return _produce(cfg, fixes, anpr)


def _produce(
    cfg: StreamConfig, fixes: str | Path | None, anpr: str | Path | None
) -> dict[str, int]:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        **client_options(cfg),
        client_id=f"{cfg.client_id}-producer",
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
    )
    counts: dict[str, int] = {}
    try:
        for path, topic, key_field in (
            (fixes, cfg.fixes_topic, "tag_id"),
            (anpr, cfg.anpr_topic, "camera_id"),
        ):
            if path is None:
                continue
            n = 0
            for rec in iter_records(path):
                if isinstance(rec.value, dict):
                    key = str(rec.value.get(key_field) or "").encode() or None
                    value = (
                        rec.raw_bytes
                        if rec.raw_bytes.lstrip().startswith(b"{")
                        else orjson.dumps(rec.value)  # a CSV row
                    )
                else:
                    key, value = None, rec.raw_bytes
                producer.send(topic, key=key, value=value)
                n += 1
            counts[topic] = n
        producer.flush()
    finally:
        producer.close()
    return counts
