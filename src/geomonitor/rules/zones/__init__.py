"""Exclusion and inclusion zones: the exact zone index (:mod:`.index`), the episode state
machine (:mod:`.episode`), and the family (:mod:`.family`)."""
