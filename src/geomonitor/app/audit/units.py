"""Changing a tag unit: the rules checked, the change recorded in the unit's history and,
where the registry knows of it (a district, a fitting, a removal), made in the registry as
a new version too: commands and registry loads keep one history and one truth."""

from __future__ import annotations

from typing import Any

from ...model.errors import RegistryError
from ...model.inventory import InventoryError, TagEvent, UnitState, check
from ...model.registry import ADULT_AGE, Registry, known_districts
from ...model.registry_load import _age_on, registry_from_entities
from ...model.times import iso
from ...store.domain import Store


def district_code(reg: Registry, ref: str | None) -> str | None:
    """A district by code or name (case-insensitive); None for stock."""
    if ref is None or ref.lower() in ("stock", "in_stock", "none"):
        return None
    code = reg.district_code(ref)
    if code is not None:
        return code
    raise InventoryError(f"district {ref!r}: not in the registry ({known_districts(reg)})")


def current(store: Store, tag_id: str) -> UnitState | None:
    states = store.unit_timelines().get(tag_id)
    return states[-1] if states else None


def change(
    store: Store,
    e: TagEvent,
    *,
    model: str | None = None,
    consent_at: int | None = None,
    guardian: str | None = None,
    guardian_present: bool = False,
    second_tag: bool = False,
) -> UnitState:
    """Make one change a person asked for; returns the unit's state after it. A subject
    who wears a tag already is fitted a second only if ``second_tag`` says it is meant
    (a replacement put on before the old one comes off): two tags split a subject's fixes
    between two units, and each looks silent while the other reports."""
    with store.transaction():
        reg = store.current_registry()
        u = current(store, e.tag_id)
        subject_district = None
        if e.action == "fit":
            subject = reg.subjects.get(e.subject_id or "")
            if subject is None:
                raise InventoryError(f"subject {e.subject_id!r}: not in the registry")
            subject_district = subject.district
            e = TagEvent(**{**e.__dict__, "district": subject.district})
            worn = sorted(f.tag_id for f in reg.fittings if f.subject_id == subject.id
                          and f.tag_id != e.tag_id and f.fitted_at <= e.at
                          and (f.removed_at is None or f.removed_at > e.at))  # fmt: skip
            if worn and not second_tag:
                raise InventoryError(
                    f"subject {subject.id} wears {', '.join(worn)} already: remove it first "
                    "(geomonitor tags remove), or fit with --second-tag if both are meant "
                    "(a replacement put on before the old one comes off)"
                )
            if subject.birth_date is not None and _age_on(subject.birth_date, e.at) < ADULT_AGE:
                if not guardian or not guardian_present:
                    raise InventoryError(
                        f"subject {subject.id} is under {ADULT_AGE}: record the guardian's "
                        "consent (--guardian NAME) and that they were present "
                        "(--guardian-present)"
                    )
                # Kept in the unit's history (the name is in the registry's consent).
                why = "; ".join(x for x in (e.reason, "guardian consented and was present") if x)
                e = TagEvent(**{**e.__dict__, "reason": why})
        if e.action == "remove" and u is not None:
            e = TagEvent(**{**e.__dict__, "subject_id": u.subject_id})
        check(u, e, subject_district, {c: d.name for c, d in reg.districts.items()})
        ents = _registry_edit(reg, e, model, consent_at, guardian)
        store.record_tag_events([e])
        if ents is not None:
            try:
                new = registry_from_entities(ents)
            except RegistryError as err:
                raise InventoryError(f"tag {e.tag_id}: {err}") from None
            store.load_registry(new, source=f"geomonitor tags {e.action} {e.tag_id}")
        after = current(store, e.tag_id)
        assert after is not None
        return after


def _registry_edit(
    reg: Registry,
    e: TagEvent,
    model: str | None,
    consent_at: int | None,
    guardian: str | None,
) -> dict[tuple[str, str], dict[str, Any]] | None:
    """The registry's entity records after the change, or None when it does not change."""
    ents = {k: dict(v) for k, v in reg.entities.items()}
    key = ("tag", e.tag_id)
    if e.action == "add":
        ents[key] = {"id": e.tag_id, "district": e.district, "model": model}
        ents[key]["allocated_at"] = iso(e.at)
    elif e.action in ("allocate", "transfer"):
        ents[key] = {**ents.get(key, {"id": e.tag_id, "model": None}), "district": e.district}
    elif e.action == "fit":
        if consent_at is None:
            raise InventoryError(
                f"tag {e.tag_id}: no fitting without recorded consent (--consent-recorded-at)"
            )
        ents[("fitting", f"{e.tag_id}@{e.at}")] = {
            "tag": e.tag_id,
            "subject": e.subject_id,
            "fitted_at": iso(e.at),
            "removed_at": None,
            "consent": {"recorded_at": iso(consent_at), "guardian": guardian},
        }
    elif e.action == "remove":
        open_ = [f for f in reg.fittings if f.tag_id == e.tag_id and f.removed_at is None]
        if not open_:
            return None
        f = open_[-1]
        fk = ("fitting", f"{f.tag_id}@{f.fitted_at}")
        ents[fk] = {**ents[fk], "removed_at": iso(e.at)}
    elif e.action == "flag" and e.status in ("returned", "retired") and key in ents:
        ents[key] = {**ents[key], "district": None}
    else:
        return None
    return ents
