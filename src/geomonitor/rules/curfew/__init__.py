"""Curfews: one night judged on its fixes (:mod:`.night`), and the family that judges
every night again as its evidence changes (:mod:`.family`)."""
