"""The embedded SQLite results store: runs, problems, samples, attempts (with the text each grade read), grades,
the response cache, and the lease of each run being worked on (one process per run)."""

from ._graded_text import GRADED_ORIGINS
from ._lease import LEASE_HEARTBEAT_S, LEASE_STALE_AFTER_S, Lease, LeaseHolder
from ._records import RunRecord, SampleResult
from ._schema import READABLE_FROM, SCHEMA_VERSION
from ._store import DEFAULT_STORE, Store, write_failure
from ._writer import StoreWriter

__all__ = ["DEFAULT_STORE", "GRADED_ORIGINS", "LEASE_HEARTBEAT_S", "LEASE_STALE_AFTER_S", "READABLE_FROM",
           "SCHEMA_VERSION", "Lease", "LeaseHolder", "RunRecord", "SampleResult", "Store", "StoreWriter",
           "write_failure"]
