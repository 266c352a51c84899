"""The embedded store (one SQLite file): the schema and its migrations (:mod:`.schema`),
the domain tables (:mod:`.domain`), and the stream consumers' bookkeeping
(:mod:`.stream_state`)."""

from ..model.errors import StoreError
from .domain import DB_ENV, Store, default_db_path
from .schema import SCHEMA_VERSION
from .stream_state import StreamState

__all__ = ["DB_ENV", "SCHEMA_VERSION", "Store", "StoreError", "StreamState", "default_db_path"]
