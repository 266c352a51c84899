"""Minutes late back for curfews, per order and calendar month, for one subject: what the
subject's page shows (the engine's own figure, judged again from the stored fixes)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..engine import Engine, EngineConfig
from ..model.times import MS_PER_DAY, local_month
from ..store.domain import Store


@dataclass(frozen=True)
class MonthLateness:
    order_id: str
    month: str  # YYYY-MM
    minutes: int
    nights: int
    limit: int

    @property
    def over(self) -> bool:
        return self.minutes > self.limit


def lateness_of(
    store: Store, subject_id: str, months: int = 3, config: EngineConfig | None = None
) -> list[MonthLateness]:
    """The subject's minutes late per order in the last ``months`` calendar months up to
    their latest fix, from the month of their first (newest first); empty when they have
    no curfew or no fixes."""
    cfg = config or EngineConfig()
    reg = store.monitored_registry()
    orders = {k: o for k, o in reg.orders.items() if o.subject_id == subject_id}
    if not any(c.type == "curfew" for o in orders.values() for c in o.conditions):
        return []
    tags = sorted({f.tag_id for f in reg.fittings if f.subject_id == subject_id})
    span = store.fix_span_of(tags)
    if span is None:
        return []
    earliest, last = span
    first = last
    for _ in range(months - 1):
        first = local_month(local_month(first)[0] - 1)[0]
    start = max(local_month(first)[0], local_month(earliest)[0])
    engine = Engine(replace(reg, orders=orders), cfg, families={"curfews"})
    # from the day before the first month (a night may start in it)
    for batch in store.iter_fix_batches_of(tags, start=start - MS_PER_DAY, end=last + 1):
        engine.process(batch)
    fam = engine.family("curfews")
    figures = fam.lateness()  # type: ignore[attr-defined]
    labels = []
    m = start
    while m <= last:
        _, hi, label = local_month(m)
        labels.append(label)
        m = hi
    out = []
    for label in reversed(labels):
        for oid in sorted(orders):
            minutes, nights = figures.get((oid, label), (0, 0))
            limit = int(fam.lateness_limit.get(oid, cfg.curfew_lateness_minutes))  # type: ignore[attr-defined]
            out.append(MonthLateness(oid, label, minutes, nights, limit))
    return out
