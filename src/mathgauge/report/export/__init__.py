"""Exports of a run: one entry point (`export_run`) for every format, the full stored text of every sample."""

from ._export import EXPORT_FORMATS, ExportResult, attempt_rows, export_run, lm_eval_records
from ._sft import SftCoverage, assistant_solution, export_sft

__all__ = ["EXPORT_FORMATS", "ExportResult", "SftCoverage", "assistant_solution", "attempt_rows", "export_run",
           "export_sft", "lm_eval_records"]
