"""Adapters at the edges: file sources (:mod:`.sources`), decoding and validation shared by
every input (:mod:`.decode`), file replay (:mod:`.replay`) and the Kafka consumers and
producer (:mod:`.kafka`)."""
