"""The rule families, each behind the interface of :mod:`geomonitor.rules.base`: zones
(:mod:`.zones`), curfews (:mod:`.curfew`), device health (:mod:`.device`), declared vehicles
(:mod:`.vehicle`) and co-location (:mod:`.colocation`: non-association and undeclared
vehicles over trails). Pure: observations in, candidate changes out; thresholds in
:mod:`.config`."""
