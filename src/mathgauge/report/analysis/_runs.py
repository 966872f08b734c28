"""Which stored runs a name given to a report command means: a run (id, name or id prefix) or a suite (the runs a
multi-benchmark ``mathgauge run`` stored, one per benchmark, each carrying ``config["suite"]``)."""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import StoreError
from ...store import RunRecord, Store

#: The run-config key that ties a run to its suite: ``{"name", "benchmarks", "spec"}``.
SUITE_KEY = "suite"


def suite_of(run: RunRecord) -> str | None:
    """The name of the suite a run belongs to, or ``None``."""
    suite = run.config.get(SUITE_KEY)
    return suite.get("name") if isinstance(suite, dict) else None


def suite_runs(store: Store, name: str) -> list[RunRecord]:
    """The runs of suite ``name``, in the suite's benchmark order (runs of benchmarks it no longer lists last)."""
    runs = [run for run in store.list_runs() if suite_of(run) == name]
    if not runs:
        return []
    order = list(runs[-1].config[SUITE_KEY].get("benchmarks") or [])
    position = {bench: i for i, bench in enumerate(order)}
    return sorted(runs, key=lambda r: (position.get(r.benchmark, len(order)), r.created_at))


def expand_run_refs(store: Store, refs: Sequence[str]) -> list[RunRecord]:
    """The runs ``refs`` name, in order: each a run (id, name or unique id prefix) or a suite (all its runs).

    Raises:
        StoreError: a name that is neither, naming the store.
    """
    out: list[RunRecord] = []
    for ref in refs:
        run = store.find_run(ref)
        if run is not None:
            out.append(run)
            continue
        members = suite_runs(store, ref)
        if not members:
            raise StoreError(f"no run {ref!r} (nor a suite of that name) in {store.path}; `mathgauge runs` lists "
                             f"the stored runs")
        out.extend(members)
    return out
