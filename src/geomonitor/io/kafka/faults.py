"""Named crash points of the stream programs, for tests only.

A test proves crash atomicity by killing a consumer *at* a dangerous moment rather than
hoping a random kill lands there. Each such moment calls :func:`crash_point` with its
name. Nothing happens unless the test-only variable ``GEOMONITOR_TEST_CRASH_AT`` names
that point, as ``NAME@N``: the process then kills itself with SIGKILL (no clean-up, no
``finally``, exactly like a power cut or the OOM killer) the N-th time it reaches it.

Points
------
``batch_written``
    Inside a batch's store transaction: its fixes, rejections, candidate changes, offset
    and outbox are written but not committed.
``committed``
    A batch with output messages is committed; none of them is published.
``published``
    Output messages are on the topics (the broker acknowledged them); the store does not
    yet know.
``rebalance``
    Partitions were assigned: the engine is rebuilt and one partition's unpublished
    output recovered; the others' not yet.
``rebuilt``
    The co-location follower's rebuild: corrections written, not committed.
``notify_queued``
    The notification sender queued mail (committed) and has not sent it.
``notify_sent``
    The mail server accepted a message; the store does not yet know.
"""

from __future__ import annotations

import os
import signal

#: The test-only variable that arms a crash point.
VARIABLE = "GEOMONITOR_TEST_CRASH_AT"
#: Every crash point, as documented above.
POINTS = frozenset(
    {
        "batch_written",
        "committed",
        "published",
        "rebalance",
        "rebuilt",
        "notify_queued",
        "notify_sent",
    }
)

_hits: dict[str, int] = {}


def armed() -> tuple[str, int] | None:
    """The crash point the environment arms, and at which hit; None when disarmed."""
    spec = os.environ.get(VARIABLE, "")
    if not spec:
        return None
    name, _, nth = spec.partition("@")
    if name not in POINTS or not nth.isdigit() or int(nth) < 1:
        raise ValueError(f"{VARIABLE}={spec!r}: expected NAME@N, NAME one of {sorted(POINTS)}")
    return name, int(nth)


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if ``name`` is armed and reached for the N-th time."""
    assert name in POINTS, name
    spec = armed()
    if spec is None or spec[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == spec[1]:
        os.kill(os.getpid(), signal.SIGKILL)
