"""What travels on the topics: input messages as records, and the output messages
(candidates, device events, dead letters) with their stable event ids."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from ...model.candidate import Candidate, DeviceEvent
from ...model.rejection import Rejection
from ...model.times import iso
from ...rules.base import DeviceKey
from ..sources import RawRecord

#: Output messages queued in a batch's transaction: (topic, key, value, headers as JSON).
OutboxRow = tuple[str, bytes | None, bytes, str]
Outbox = list[OutboxRow]


def records_of(msgs: Iterable[Any], wall: int | None = None) -> Iterator[RawRecord]:
    """Kafka messages as input records (locator ``offset N``). Each is received at the
    earlier of its message timestamp and ``wall`` (the consumer's clock): a producer's
    clock cannot make a record look received later than it was."""
    for m in msgs:
        raw = m.value if m.value is not None else b""
        loc = f"offset {m.offset}"
        stamp = getattr(m, "timestamp", None)
        received = wall
        if isinstance(stamp, int) and stamp > 0:
            received = stamp if wall is None else min(stamp, wall)
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            error = f"malformed JSON ({str(e).split(':')[0]})"
            yield RawRecord(loc, raw, None, error, received)
            continue
        yield RawRecord(loc, raw, value, None, received)


def candidate_message(cid: str, subject: str, action: str, body: str | None) -> bytes:
    """The JSON value of a ``geomonitor.candidates`` message (event id added at publish)."""
    cand = None if body is None else orjson.loads(body)
    return orjson.dumps(
        {"action": action, "candidate_id": cid, "subject_id": subject, "candidate": cand}
    )


def device_message(ev: DeviceEvent | None, key: DeviceKey, action: str) -> bytes:
    """The JSON value of a ``geomonitor.device-events`` message."""
    tag, kind, started = key
    doc: dict[str, Any] = {
        "action": action,
        "tag_id": tag,
        "kind": kind,
        "started_at": iso(started),
    }
    if ev is not None:
        doc.update(
            ended_at=iso(ev.ended_at),
            subject_id=ev.details.get("subject_id"),
            details={k: v for k, v in ev.details.items() if k != "subject_id"},
            evidence_fixes=len(ev.evidence),
        )
    return orjson.dumps(doc)


def with_event_id(value: bytes, event_id: str) -> bytes:
    """Put ``event_id`` first in a JSON object value."""
    head = orjson.dumps({"event_id": event_id})
    rest = value[1:]
    return head[:-1] + (b"," + rest if rest != b"}" else b"}")


def deadletter_row(
    topic: str, source_topic: str, partition: int, r: Rejection, m: Any
) -> OutboxRow:
    """A refused input message, as it came, with where it came from and why."""
    headers = [
        ["source_topic", source_topic],
        ["source_partition", str(partition)],
        ["source_offset", str(m.offset)],
        ["reason", r.reason],
        ["field", r.field or ""],
        ["message", r.message],
    ]
    value = m.value if m.value is not None else b""
    return (topic, m.key, value, orjson.dumps(headers).decode())


def rejected_messages(
    rejections: list[Rejection], msgs: list[Any]
) -> Iterator[tuple[Rejection, Any]]:
    """Each rejection with the message it was made from."""
    by_loc = {f"offset {m.offset}": m for m in msgs}
    for r in rejections:
        m = by_loc.get(r.locator)
        if m is not None:
            yield r, m


def candidate_of(message_value: bytes) -> Candidate | None:
    """The candidate carried by a ``geomonitor.candidates`` message (None: retracted)."""
    doc = orjson.loads(message_value)
    c = doc.get("candidate")
    return None if c is None else Candidate.from_json(c)
