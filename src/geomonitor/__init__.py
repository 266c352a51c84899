"""geomonitor: breach candidates from GPS tag fixes and ANPR reads.

Data flows one way: sources (files, Kafka) -> decode/validate -> engine -> sinks (store,
topics, reports, maps). The engine and its rules are pure: events in, decisions out, with
time passed in.

The package is in layers; a module imports only from its own layer or those below::

    model     what things are: times, coordinates, the registry, fixes, reads, candidates,
              errors (no I/O beyond reading a registry or zone file)
    rules     the rule families, one interface (rules.base), pure
    engine    attributes fixes to subjects, fans out to the families
    store     the embedded SQLite store: domain tables, stream state
    io, sim   adapters: file sources, decoding, replay, Kafka; the scenario simulator
    app       what people use: the command line, the demo, tables

``tests/test_layers.py`` keeps it so.
"""

__version__ = "0.1.0"
