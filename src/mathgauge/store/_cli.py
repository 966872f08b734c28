"""The ``mathgauge store`` command: check a results store for damage, and salvage a damaged one."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import EXIT_OK, EXIT_SAMPLES_FAILED


def add_store_commands(subparsers: Any) -> None:
    """Add ``mathgauge store check`` to the ``mathgauge`` parser."""
    p = subparsers.add_parser("store", help="check a results store for damage; salvage a damaged one",
                              description="Work on the results store file itself.")
    sub = p.add_subparsers(dest="store_command", metavar="SUBCOMMAND")
    sub.required = True
    c = sub.add_parser(
        "check", help="SQLite's integrity check and which runs can be read; --salvage copies the readable ones",
        description="Run SQLite's integrity check on the store and read every run whole, naming the runs that "
                    "cannot be read. Nothing is written to the store. Exit 0 when it is intact, 3 when damaged.")
    c.add_argument("--store", default="mathgauge.db", help="SQLite results file (default ./mathgauge.db)")
    c.add_argument("--salvage", metavar="OUT", help="copy every readable run (and what can be read of the response "
                   "cache) into the new store OUT")
    c.set_defaults(func=cmd_store_check)


def cmd_store_check(args: argparse.Namespace) -> int:
    from ._check import check_store, salvage_store

    report = check_store(args.store)
    for line in report.lines():
        print(line)
    if args.salvage:
        for line in salvage_store(args.store, args.salvage).lines():
            print(line)
    elif not report.intact and report.runs_error is None:
        print(f"`mathgauge store check --store {args.store} --salvage NEW.db` copies every readable run into a "
              f"new file", file=sys.stderr)
    return EXIT_OK if report.intact else EXIT_SAMPLES_FAILED
