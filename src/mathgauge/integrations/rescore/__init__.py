"""Re-score other harnesses' outputs (lm-eval, lighteval, OpenCompass, Qwen-eval, plain JSONL) with mathgauge."""

from ._formats import READERS, ImportedFile, ImportedRecord, read_file
from ._rescore import Flip, ProblemMatcher, RescoreResult, rescore

FORMATS = tuple(READERS)

__all__ = ["FORMATS", "Flip", "ImportedFile", "ImportedRecord", "ProblemMatcher", "RescoreResult", "read_file",
           "rescore"]
