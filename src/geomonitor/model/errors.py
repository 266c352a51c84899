"""One hierarchy for every failure geomonitor knows how to explain.

The command line catches :class:`GeomonitorError` once and prints its message on one line
(no traceback) with the class's exit code. Messages name records, fields and paths, never
the values of personal data.

::

    GeomonitorError
    ├── InputError                 input that cannot be used (exit 2)
    │   ├── RecordError            one fix or read; keeps reason and field for the dead letter
    │   │   ├── FixError
    │   │   └── ReadError
    │   ├── TimeError              a timestamp
    │   ├── ZoneError              a zone geometry
    │   ├── TimetableError         a weekly timetable
    │   └── RegistryError          a registry document (every problem, with its path)
    ├── ConfigError                a configuration file or variable (exit 2)
    ├── StoreError                 the database file (exit 2)
    └── StreamError                Kafka: a broker or another consumer in the way (exit 3)
"""

from __future__ import annotations


class GeomonitorError(Exception):
    """A known failure, explained to the user in one line."""

    #: The command line's exit status for this failure.
    exit_code = 2


class InputError(GeomonitorError, ValueError):
    """Input that cannot be used."""


class RecordError(InputError):
    """One input record that cannot be accepted.

    Attributes
    ----------
    reason
        A short code (``missing_field``, ``bad_value``, ``out_of_range``...).
    field
        The offending field, if one.
    message
        One line for a person; names the field, never quotes its value.
    """

    def __init__(self, reason: str, field: str | None, message: str):
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.message = message


class FixError(RecordError):
    """A fix record that cannot be accepted."""


class ReadError(RecordError):
    """An ANPR read record that cannot be accepted."""


class TimeError(InputError):
    """A timestamp that cannot be used as an event time."""


class ZoneError(InputError):
    """A zone geometry that cannot be used."""


class TimetableError(InputError):
    """A weekly timetable that cannot be used."""


class RegistryError(InputError):
    """The registry document is invalid; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        head = f"registry has {len(errors)} error(s):\n  " + "\n  ".join(errors[:50])
        if len(errors) > 50:
            head += f"\n  ... and {len(errors) - 50} more"
        super().__init__(head)


class ConfigError(GeomonitorError, ValueError):
    """A configuration file or variable that cannot be used."""


class StoreError(GeomonitorError, RuntimeError):
    """The database file cannot be used as asked."""


class StreamError(GeomonitorError, RuntimeError):
    """A stream consumer cannot run: no broker, or another consumer holds its place."""

    exit_code = 3
