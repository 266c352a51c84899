"""geomonitor: breach candidates from GPS tag fixes and ANPR reads.

Data flows one way: sources (files, Kafka) -> parse/validate -> engine -> sinks (store,
topics, reports, maps). The engine and its rules are pure: events in, decisions out, with
time passed in.
"""

__version__ = "0.1.0"
