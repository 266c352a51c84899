"""Device health: a tag's events from its own reports (:mod:`.health`), and the family
that raises desk candidates for tamper and lost contact (:mod:`.family`)."""
