"""The embedded SQLite results store: runs, problems, samples, attempts (with the text each grade read), grades and
the response cache."""

from ._graded_text import GRADED_ORIGINS
from ._records import RunRecord, SampleResult
from ._schema import SCHEMA_VERSION
from ._store import DEFAULT_STORE, Store
from ._writer import StoreWriter

__all__ = ["DEFAULT_STORE", "GRADED_ORIGINS", "SCHEMA_VERSION", "RunRecord", "SampleResult", "Store", "StoreWriter"]
