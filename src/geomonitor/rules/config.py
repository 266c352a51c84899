"""Thresholds of every rule family, in one place.

Each family reads its own section; :class:`EngineConfig` holds them all. Conditions in the
registry may override ``open_after`` and ``close_after`` for themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeviceConfig:
    """Device health (see :mod:`geomonitor.rules.device`)."""

    low_battery_pct: float = 20.0
    depleted_battery_pct: float = 5.0
    no_contact_minutes: float = 120.0
    max_speed_kmh: float = 250.0
    poor_accuracy_m: float = 100.0
    poor_accuracy_share: float = 0.5
    poor_accuracy_min_fixes: int = 10


@dataclass
class VehicleConfig:
    """Declared and undeclared vehicles (see :mod:`geomonitor.rules.vehicle` and
    :mod:`geomonitor.rules.undeclared`)."""

    #: Reads below this confidence are kept but not matched (no confidence given: matched).
    min_confidence: float = 0.8
    curfew_distance_m: float = 2000.0
    sighting_gap_minutes: float = 30.0
    #: Undeclared vehicles: a subject within this distance (plus accuracy) of a camera
    #: when it read a plate is co-located with the plate ...
    colocation_m: float = 100.0
    #: ... and co-locations with one plate each within this time of the last ...
    journey_minutes: float = 30.0
    #: ... at this many distinct cameras are a journey together.
    journey_cameras: int = 2


@dataclass(frozen=True)
class AssociationConfig:
    """Settings of the co-location rules (non-association and undeclared vehicles)."""

    #: Instants at which two trails are compared.
    step_s: float = 60.0
    #: No position is interpolated between fixes further apart than this.
    max_gap_minutes: float = 5.0
    #: Fixes with a worse accuracy radius place nobody next to anyone.
    max_accuracy_m: float = 100.0
    #: Together instants further apart than this are separate meetings.
    join_minutes: float = 5.0


@dataclass(frozen=True)
class FeedConfig:
    """Feed outages (see :mod:`geomonitor.rules.feed`)."""

    #: Time is judged in slots of this length.
    slot_minutes: float = 5.0
    #: A tag is reporting before a slot if it sent a fix within this time before it.
    lookback_minutes: float = 30.0
    #: At least this many tags reporting before a slot for it to start an outage ...
    min_tags: int = 5
    #: ... and at least this share of them silent in it.
    silent_share: float = 0.5
    #: A shorter run of silent slots is no outage.
    min_minutes: float = 15.0
    #: Whether outages are judged at all (the horizon always is). Off in the partitioned
    #: Kafka fixes consumers: each sees only its partitions' tags, and runs ahead on some
    #: partitions while catching up (see docs/deployment.md).
    outages: bool = True


@dataclass(frozen=True)
class EngineConfig:
    """Deployment-wide settings (conditions may override ``open_after``/``close_after``)."""

    default_accuracy_m: float = 25.0
    open_after: int = 2
    close_after: int = 2
    run_max_gap_minutes: float = 15.0
    h3_resolution: int = 9
    index_margin_m: float = 250.0
    curfew_no_signal_minutes: float = 30.0
    #: An absence opens on away fixes with at most this accuracy radius ...
    curfew_good_accuracy_m: float = 100.0
    #: ... or on away evidence lasting at least this long.
    curfew_min_away_minutes: float = 10.0
    #: A fix implying more than this speed from and back to its neighbours is a spike:
    #: it neither opens nor ends a run of away or home fixes.
    spike_speed_kmh: float = 25.0
    #: Minutes late back for curfews (late returns inside the grace period too) an order
    #: may add up in a calendar month before the total is a candidate of its own.
    curfew_lateness_minutes: float = 120.0
    #: An authorised absence with a destination covers fixes within this distance of the
    #: straight line from the curfew address to it (the way there and back).
    absence_corridor_m: float = 500.0
    device: DeviceConfig = field(default_factory=DeviceConfig)
    feed: FeedConfig = field(default_factory=FeedConfig)
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    association: AssociationConfig = field(default_factory=AssociationConfig)
