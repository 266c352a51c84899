"""What things are: event times, coordinate systems, the registry (subjects, orders and
their conditions, tags, fittings, zones, cameras), fixes, ANPR reads, breach candidates and
device events, rejected records, and the one error hierarchy. Pure data and validation."""
