"""The embedded SQLite results store: runs, problems, samples, attempts, grades and the response cache."""

from ._records import RunRecord, SampleResult
from ._schema import SCHEMA_VERSION
from ._store import DEFAULT_STORE, Store

__all__ = ["DEFAULT_STORE", "SCHEMA_VERSION", "RunRecord", "SampleResult", "Store"]
