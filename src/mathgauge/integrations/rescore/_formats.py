"""Readers for other harnesses' result/sample files, each normalised to `ImportedRecord`s.

Every reader names the file and the line (JSONL), row (Parquet) or key (JSON) of the first malformed record and
the field that is wrong, so a user can fix or report the file.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...datasets import read_jsonl_records
from ...datasets._boxed import last_boxed_content
from ...errors import DatasetError


@dataclass
class ImportedRecord:
    """One problem's responses as another tool wrote them.

    Args:
        where: ``FILE:LINE`` / ``FILE row N`` / ``FILE key K``: where the record was read (for messages).
        responses: the model's response texts (several with repeats/sampling).
        problem: the problem statement when the file has it.
        prompt: the prompt that was sent (text or chat messages) when the file has it.
        ref_id: the benchmark's id of the problem when the file has it (``unique_id``).
        gold: the reference answer the other tool used.
        original_correct: that tool's verdict per response (``None`` where unknown).
        original_extracted: that tool's extracted answer per response (``None`` where unknown).
        subject, level: when the file has them (used for problems not in the benchmark).
    """

    where: str
    responses: list[str]
    problem: str | None = None
    prompt: str | list[dict[str, Any]] | None = None
    ref_id: str | None = None
    gold: str | None = None
    original_correct: list[bool | None] = field(default_factory=list)
    original_extracted: list[str | None] = field(default_factory=list)
    subject: str | None = None
    level: Any = None

    def __post_init__(self) -> None:
        n = len(self.responses)
        self.original_correct = (list(self.original_correct) + [None] * n)[:n]
        self.original_extracted = (list(self.original_extracted) + [None] * n)[:n]


@dataclass
class ImportedFile:
    """Everything read from one file: the records and what the file says about the run."""

    format: str
    records: list[ImportedRecord]
    model: str | None = None
    original_metric: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    benchmark: str | None = None  # the mathgauge benchmark the file's task or folder names, when it names one


#: Other tools' task names for mathgauge benchmarks (besides the mathgauge names themselves).
_TASK_ALIASES = {"math_500": "math500", "math-500": "math500", "aime_2024": "aime24", "aime_2025": "aime25",
                 "amc_2023": "amc23", "minerva": "minerva_math", "olympiad_bench": "olympiadbench",
                 "olympiad": "olympiadbench", "gaokao_2023_en": "gaokao2023en"}


def benchmark_hint(task: str | None) -> str | None:
    """The mathgauge benchmark another tool's task or dataset name stands for (``mathgauge_aime24``, ``aime24``,
    ``gsm8k_cot``, ``math_500``), or None when it names none (the caller's default applies)."""
    from ...datasets import MATH_SUBJECTS, list_benchmarks, subject_slug

    if not task:
        return None
    name = task.strip().lower()
    name = name[len("mathgauge_"):] if name.startswith("mathgauge_") else name
    names = {b.name for b in list_benchmarks()}
    if name in names:
        return name
    if name in _TASK_ALIASES:
        return _TASK_ALIASES[name]
    if name.startswith("gsm8k"):  # lm-eval's gsm8k, gsm8k_cot, gsm8k_cot_zeroshot...
        return "gsm8k"
    if name.startswith("math_") and name[5:] in {subject_slug(s) for s in MATH_SUBJECTS}:
        return "math"  # a subtask of the MATH group: mathgauge_math_algebra
    return None


#: Metric names taken as "the verdict" when a file has several, first found wins.
_PREFERRED_METRICS = ("exact_match", "extractive_match", "math_verify", "math_pass@1:1_samples", "pass@1",
                      "accuracy", "acc", "em", "correct", "score")


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "1.0", "0.0"):
        return value.strip().lower() in ("true", "1", "1.0")
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text; expected JSON") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None


def _require_str(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str):
        got = "missing" if value is None else f"a {type(value).__name__}"
        raise DatasetError(f"{where}: field {name!r} must be a string, got {got}")
    return value


def _str_list(value: Any, where: str, name: str) -> list[str]:
    """A response field that may be one string or a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    got = "missing" if value is None else ("an empty list" if value == [] else f"{type(value).__name__} {str(value)[:60]!r}")
    raise DatasetError(f"{where}: field {name!r} must be a string or a list of strings, got {got}")


# ---------------------------------------------------------------------------------------------------- lm-eval
def read_lm_eval(path: Path, original_metric: str | None = None) -> ImportedFile:
    """``samples_<task>_<date>.jsonl`` written by ``lm_eval --log_samples``.

    Each line: ``doc_id``, ``doc`` (the dataset row), ``target``, ``arguments`` (``gen_args_0.arg_0`` is the prompt),
    ``resps`` (per request, the list of generations), ``filtered_resps``, ``filter``, ``metrics`` (names) and one
    key per metric with its value.
    """
    records = []
    metric_used = original_metric
    for where, row in read_jsonl_records(path):
        for name in ("doc", "resps"):
            if name not in row:
                raise DatasetError(f"{where}: missing field {name!r}; is this an lm-eval samples_*.jsonl file?")
        doc = row["doc"]
        if not isinstance(doc, dict):
            raise DatasetError(f"{where}: field 'doc' must be an object, got {type(doc).__name__}")
        resps = row["resps"]
        if not isinstance(resps, list) or not resps:
            raise DatasetError(f"{where}: field 'resps' must be a non-empty list, got {str(resps)[:60]!r}")
        first = resps[0]
        responses = _str_list(first, where, "resps[0]")
        metric = metric_used or _pick_metric(row.get("metrics") or [], row)
        if metric is not None and metric_used is None:
            metric_used = metric
        verdict = _as_bool(row.get(metric)) if metric else None
        if metric and metric in row and verdict is None and len(responses) == 1:
            raise DatasetError(f"{where}: metric {metric!r} must be 0/1 or true/false, got {row.get(metric)!r}")
        extracted = None
        filtered = row.get("filtered_resps")
        if row.get("filter") not in (None, "none") and isinstance(filtered, list) and filtered:
            extracted = filtered[0] if isinstance(filtered[0], str) else None
        prompt = _lm_eval_prompt(row.get("arguments"))
        gold = _text(doc.get("answer")) or _text(row.get("target"))
        if gold and "\\boxed" in gold:
            gold = last_boxed_content(gold) or gold
        records.append(ImportedRecord(
            where=where, responses=responses, problem=_text(doc.get("problem") or doc.get("question")),
            prompt=prompt, ref_id=_text(doc.get("unique_id") or doc.get("id")), gold=gold,
            original_correct=[verdict] if len(responses) == 1 else [],
            original_extracted=[extracted] if len(responses) == 1 else [],
            subject=_text(doc.get("subject") or doc.get("type")), level=doc.get("level"),
        ))
    if not records:
        raise DatasetError(f"{path}: no samples found")
    imported = ImportedFile("lm-eval", records, original_metric=metric_used)
    task = re.match(r"samples_(?P<task>.+?)_\d{4}-\d{2}-\d{2}T", path.name)
    imported.benchmark = benchmark_hint(task["task"] if task else None)
    _lm_eval_results(path, imported)
    return imported


def _pick_metric(names: list[Any], row: dict[str, Any]) -> str | None:
    for preferred in _PREFERRED_METRICS:
        if preferred in names and preferred in row:
            return preferred
    for name in names:
        if isinstance(name, str) and name in row:
            return name
    return None


def _lm_eval_prompt(arguments: Any) -> str | list[dict[str, Any]] | None:
    if isinstance(arguments, dict):
        first = arguments.get("gen_args_0")
        prompt = first.get("arg_0") if isinstance(first, dict) else None
    elif isinstance(arguments, list) and arguments and isinstance(arguments[0], list) and arguments[0]:
        prompt = arguments[0][0]
    else:
        return None
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]  # chat-template runs: the messages as JSON text, in a one-element list
    if isinstance(prompt, str) and prompt.startswith("[{"):
        try:  # chat-template runs store the messages as a JSON string
            messages = json.loads(prompt)
            if isinstance(messages, list) and all(isinstance(m, dict) for m in messages):
                return messages
        except json.JSONDecodeError:
            pass
    return prompt if isinstance(prompt, (str, list)) else None


def _lm_eval_results(samples_path: Path, imported: ImportedFile) -> None:
    """Model name and generation settings from the ``results_*.json`` beside the samples file, when there is one."""
    match = re.match(r"samples_(.+)_(\d{4}-\d{2}-\d{2}T[\d\-.:]+)\.jsonl$", samples_path.name)
    candidates = sorted(samples_path.parent.glob(f"results_{match.group(2)}.json")) if match else []
    candidates = candidates or sorted(samples_path.parent.glob("results_*.json"))
    if not candidates:
        return
    try:
        doc = json.loads(candidates[-1].read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        imported.notes.append(f"{candidates[-1]}: unreadable, model name and settings not imported")
        return
    if not isinstance(doc, dict):
        return
    imported.model = _text(doc.get("model_name")) or _model_from_args((doc.get("config") or {}).get("model_args"))
    task = match.group(1) if match else None
    config = (doc.get("configs") or {}).get(task) if task else None
    if isinstance(config, dict):
        imported.settings = {"task": task, "generation_kwargs": config.get("generation_kwargs"),
                             "num_fewshot": config.get("num_fewshot")}
    imported.settings["results_file"] = candidates[-1].name


def _model_from_args(model_args: Any) -> str | None:
    if isinstance(model_args, dict):
        return _text(model_args.get("model") or model_args.get("pretrained"))
    if isinstance(model_args, str):
        for part in model_args.split(","):
            key, _, value = part.partition("=")
            if key.strip() in ("model", "pretrained") and value.strip():
                return value.strip()
    return None


# ---------------------------------------------------------------------------------------------------- lighteval
def read_lighteval(path: Path, original_metric: str | None = None) -> ImportedFile:
    """``details_<task>_<date>.parquet`` written by ``lighteval ... --save-details``.

    Two layouts are read: the current one (columns ``doc``, ``model_response``, ``metric``: the task's ``Doc``, the
    ``ModelResponse`` with its ``text`` list, and the metric values) and the older flat one (``example``,
    ``full_prompt``, ``predictions``, ``gold``, ``metrics``, ``specifics``; list/dict cells may be stored as text).
    """
    try:
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise DatasetError(f"{path}: cannot read Parquet file ({exc})") from None
    if not rows:
        raise DatasetError(f"{path}: no rows")
    columns = set(rows[0])
    if "model_response" in columns and "doc" in columns:
        reader: Callable[[str, dict[str, Any], str | None], tuple[ImportedRecord, str | None]] = _lighteval_new
    elif "predictions" in columns:
        reader = _lighteval_old
    else:
        raise DatasetError(f"{path}: not a lighteval details file: expected columns 'doc'/'model_response'/'metric' "
                           f"or 'example'/'predictions'/'metrics', found {', '.join(sorted(columns))}")
    records = []
    metric_used = original_metric
    for i, row in enumerate(rows, start=1):
        record, metric = reader(f"{path} row {i}", row, metric_used)
        metric_used = metric_used or metric
        records.append(record)
    model = None
    parts = path.parts
    if len(parts) >= 4 and "details" in parts:  # {output_dir}/details/{org}/{model}/{timestamp}/details_*.parquet
        idx = len(parts) - 1 - parts[::-1].index("details")
        model = "/".join(parts[idx + 1:-2]) or None
    task = re.match(r"details_[^|]*\|(?P<task>[^|]+)\|", path.name)  # details_{suite}|{task}|{shots}_{date}
    return ImportedFile("lighteval", records, model=model, original_metric=metric_used,
                        benchmark=benchmark_hint(task["task"] if task else None))


def _loose(value: Any, where: str, name: str) -> Any:
    """A cell that older lighteval versions wrote as the text of a Python/JSON literal."""
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if not stripped or stripped[0] not in "[{(":
        return value
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    try:
        return ast.literal_eval(stripped)  # literals only: never evaluates code
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise DatasetError(f"{where}: field {name!r} is not a readable list/dict literal") from None


def _metric_verdict(metrics: Any, where: str, name: str, wanted: str | None) -> tuple[bool | None, str | None]:
    metrics = _loose(metrics, where, name)
    if metrics is None:
        return None, wanted
    if not isinstance(metrics, dict):
        raise DatasetError(f"{where}: field {name!r} must be a dict of metric values, got {type(metrics).__name__}")
    present = {k: v for k, v in metrics.items() if v is not None}
    if wanted is None:
        wanted = next((m for m in _PREFERRED_METRICS if m in present), None)
        wanted = wanted or next((k for k, v in present.items() if _as_bool(v) is not None), None)
    if wanted is None or wanted not in present:
        return None, wanted
    return _as_bool(present[wanted]), wanted


def _gold_text(value: Any) -> str | None:
    text = _text(value)
    if text and "\\boxed" in text:
        return last_boxed_content(text) or text
    return text


def _lighteval_new(where: str, row: dict[str, Any], metric: str | None) -> tuple[ImportedRecord, str | None]:
    doc = _loose(row.get("doc"), where, "doc")
    response = _loose(row.get("model_response"), where, "model_response")
    if not isinstance(doc, dict):
        raise DatasetError(f"{where}: field 'doc' must be a struct, got {type(doc).__name__}")
    if not isinstance(response, dict):
        raise DatasetError(f"{where}: field 'model_response' must be a struct, got {type(response).__name__}")
    responses = _str_list(response.get("text"), where, "model_response.text")
    verdict, metric = _metric_verdict(row.get("metric"), where, "metric", metric)
    choices = doc.get("choices") or []
    gold_index = doc.get("gold_index")
    index = gold_index[0] if isinstance(gold_index, list) and gold_index else gold_index
    gold = choices[index] if isinstance(index, int) and 0 <= index < len(choices) else None
    specific = _loose(doc.get("specific"), where, "doc.specific")
    specific = specific if isinstance(specific, dict) else {}
    query = _text(doc.get("query"))
    extracted = _extracted_from_specific(specific)
    return ImportedRecord(
        where=where, responses=responses, problem=_text(specific.get("problem")), prompt=query,
        ref_id=_text(specific.get("unique_id") or doc.get("id")), gold=_gold_text(gold),
        original_correct=[verdict] if len(responses) == 1 else [],
        original_extracted=[extracted] if len(responses) == 1 else [],
        subject=_text(specific.get("subject")), level=specific.get("level"),
    ), metric


def _extracted_from_specific(specific: dict[str, Any]) -> str | None:
    for key in ("extracted_predictions", "extracted_prediction"):
        value = specific.get(key)
        if isinstance(value, list) and value:
            return _text(value[0])
        if isinstance(value, str):
            return value
    return None


def _lighteval_old(where: str, row: dict[str, Any], metric: str | None) -> tuple[ImportedRecord, str | None]:
    predictions = _loose(row.get("predictions"), where, "predictions")
    if isinstance(predictions, list) and predictions and isinstance(predictions[0], list):
        predictions = [p for group in predictions for p in group]
    responses = _str_list(predictions, where, "predictions")
    verdict, metric = _metric_verdict(row.get("metrics"), where, "metrics", metric)
    gold = _loose(row.get("gold"), where, "gold")
    gold = gold[0] if isinstance(gold, list) and gold else gold
    specific = _loose(row.get("specifics"), where, "specifics")
    specific = specific if isinstance(specific, dict) else {}
    return ImportedRecord(
        where=where, responses=responses, problem=_text(specific.get("problem")),
        prompt=_text(row.get("full_prompt")) or _text(row.get("example")),
        ref_id=_text(specific.get("unique_id")), gold=_gold_text(gold),
        original_correct=[verdict] if len(responses) == 1 else [],
        original_extracted=[_extracted_from_specific(specific)] if len(responses) == 1 else [],
    ), metric


# ---------------------------------------------------------------------------------------------------- opencompass
def read_opencompass(path: Path, original_metric: str | None = None) -> ImportedFile:
    """``outputs/<config>/<time>/predictions/<model>/<dataset>.json`` written by OpenCompass.

    An object keyed by the sample index (``"0"``, ``"1"``, ...), each with ``origin_prompt`` (text, or the chat
    turns as ``[{"role": ..., "prompt": ...}]``), ``prediction`` (text, or a list with several samples) and
    ``gold``. The verdicts are in the evaluation's ``results/<model>/<dataset>.json`` (its ``details``: per sample
    ``pred``, ``answer``, ``correct``), read when it lies beside the predictions in the usual layout.
    """
    doc = _read_json(path)
    if not isinstance(doc, dict) or not doc:
        raise DatasetError(f"{path}: expected a JSON object keyed by sample index (OpenCompass predictions)")
    details, results_file, metric = _opencompass_details(path)
    records = []
    for key, entry in doc.items():
        where = f"{path} key {key!r}"
        if not isinstance(entry, dict):
            raise DatasetError(f"{where}: expected an object, got {type(entry).__name__}")
        if "prediction" not in entry:
            raise DatasetError(f"{where}: missing field 'prediction'")
        responses = _str_list(entry["prediction"], where, "prediction")
        prompt = _opencompass_prompt(entry.get("origin_prompt"), where)
        detail = details.get(str(key), {})
        correct = detail.get("correct", entry.get("correct"))
        if isinstance(correct, list):
            verdicts = [_as_bool(c) for c in correct]
        else:
            verdicts = [_as_bool(correct)] * len(responses) if correct is not None else []
        pred = detail.get("pred", entry.get("pred"))
        extracted = [_text(p) for p in pred] if isinstance(pred, list) else [_text(pred)] * len(responses)
        gold = entry.get("gold", detail.get("answer"))
        records.append(ImportedRecord(
            where=where, responses=responses, prompt=prompt, gold=_gold_text(gold),
            original_correct=verdicts, original_extracted=extracted,
        ))
    imported = ImportedFile("opencompass", records, model=path.parent.name or None,
                            original_metric=metric if details else None)
    if results_file is not None:
        imported.settings["results_file"] = str(results_file)
    elif not any(v is not None for r in records for v in r.original_correct):
        imported.notes.append(f"no OpenCompass results file beside {path} (results/<model>/{path.name}): "
                              f"original verdicts unknown")
    return imported


def _opencompass_prompt(value: Any, where: str) -> str | list[dict[str, Any]] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(t, dict) for t in value):
        return [{"role": str(t.get("role", "user")).lower().replace("human", "user").replace("bot", "assistant"),
                 "content": str(t.get("prompt", t.get("content", "")))} for t in value]
    raise DatasetError(f"{where}: field 'origin_prompt' must be text or a list of turns")


def _opencompass_details(pred_path: Path) -> tuple[dict[str, dict[str, Any]], Path | None, str | None]:
    parts = list(pred_path.parts)
    if "predictions" not in parts:
        return {}, None, None
    i = len(parts) - 1 - parts[::-1].index("predictions")
    results = Path(*parts[:i], "results", *parts[i + 1:])
    if not results.exists():
        return {}, None, None
    doc = _read_json(results)
    details = doc.get("details") if isinstance(doc, dict) else None
    if isinstance(details, list):
        details = {str(i): d for i, d in enumerate(details)}
    if not isinstance(details, dict):
        return {}, results, None
    metric = next((k for k in ("accuracy", "score", "acc") if isinstance(doc.get(k), (int, float))), None)
    return {k: v for k, v in details.items() if isinstance(v, dict)}, results, metric


# ---------------------------------------------------------------------------------------------------- qwen-eval
def read_qwen_eval(path: Path, original_metric: str | None = None) -> ImportedFile:
    """The ``.jsonl`` of the Qwen2.5-Math / ToRA / SkyThought evaluation toolkits (``math_eval.py``).

    One line per problem: ``idx``, ``question`` (or ``problem``), ``gt`` (the reference answer), ``code`` (the list
    of generations), ``pred`` (the toolkit's extracted answers), ``score`` (its verdicts), plus the dataset's own
    fields (``unique_id``, ``level``, ``type``/``subject``, ``answer``, ``solution``).
    """
    records = []
    for where, row in read_jsonl_records(path):
        if "code" not in row:
            raise DatasetError(f"{where}: missing field 'code' (the generations); is this a math_eval.py output?")
        responses = _str_list(row["code"], where, "code")
        scores = row.get("score")
        if scores is not None and not isinstance(scores, list):
            scores = [scores]
        verdicts = [_as_bool(s) for s in scores] if scores else []
        if scores and any(v is None for v in verdicts):
            raise DatasetError(f"{where}: field 'score' must be a list of true/false, got {str(scores)[:60]!r}")
        preds = row.get("pred")
        preds = preds if isinstance(preds, list) else [preds] if preds is not None else []
        gold = _text(row.get("gt")) or _text(row.get("answer"))
        records.append(ImportedRecord(
            where=where, responses=responses, problem=_text(row.get("question") or row.get("problem")),
            prompt=_text(row.get("prompt")), ref_id=_text(row.get("unique_id")), gold=gold,
            original_correct=verdicts, original_extracted=[_text(p) for p in preds],
            subject=_text(row.get("subject") or row.get("type")), level=row.get("level"),
        ))
    if not records:
        raise DatasetError(f"{path}: no records found")
    imported = ImportedFile("qwen-eval", records, original_metric="score")
    # math_eval.py names its output {split}_{prompt_type}_{num_test_sample}_seed{S}_t{T}_s{start}_e{end}.jsonl
    match = re.match(r"(?P<split>[^_]+)_(?P<prompt>.+)_(?P<n>-?\d+)_seed(?P<seed>-?\d+)_t(?P<t>[\d.]+)_s(?P<s>-?\d+)"
                     r"_e(?P<e>-?\d+)\.jsonl$", path.name)
    if match:
        imported.settings = {"split": match["split"], "prompt_type": match["prompt"], "seed": int(match["seed"]),
                             "temperature": float(match["t"])}
    parts = path.parts  # the scripts' default output_dir is {model path}/math_eval/{data_name}/
    if "math_eval" in parts[:-1] and parts.index("math_eval") > 0:
        imported.model = parts[parts.index("math_eval") - 1]
    if "math_eval" in parts[:-2]:  # its data names are mathgauge's: aime24, amc23, gsm8k, minerva_math...
        imported.benchmark = benchmark_hint(parts[parts.index("math_eval") + 1])
    return imported


# ---------------------------------------------------------------------------------------------------- plain jsonl
def read_plain_jsonl(path: Path, original_metric: str | None = None) -> ImportedFile:
    """Plain JSONL: ``problem``, ``gold_answer`` (or ``answer``), ``response`` (or ``responses``, a list);
    optional ``id``/``problem_id``, ``correct`` (the original verdict, or a list), ``extracted``, ``model``."""
    records = []
    models = set()
    for where, row in read_jsonl_records(path):
        key = "responses" if "responses" in row else "response"
        if key not in row:
            raise DatasetError(f"{where}: missing field 'response' (the model's answer text)")
        responses = _str_list(row[key], where, key)
        problem = row.get("problem")
        if problem is not None:
            _require_str(problem, where, "problem")
        gold = row.get("gold_answer", row.get("answer"))
        if gold is not None and _text(gold) is None:
            raise DatasetError(f"{where}: field 'gold_answer' must be a string, got {type(gold).__name__}")
        if problem is None and row.get("id", row.get("problem_id")) is None:
            raise DatasetError(f"{where}: needs 'problem' (the statement) or 'id' to find the problem")
        correct = row.get(original_metric or "correct")
        verdicts = [_as_bool(c) for c in correct] if isinstance(correct, list) else \
            [_as_bool(correct)] * len(responses) if correct is not None else []
        extracted = row.get("extracted")
        extracted_list = [_text(e) for e in extracted] if isinstance(extracted, list) else \
            [_text(extracted)] * len(responses) if extracted is not None else []
        if isinstance(row.get("model"), str):
            models.add(row["model"])
        records.append(ImportedRecord(
            where=where, responses=responses, problem=problem, ref_id=_text(row.get("id", row.get("problem_id"))),
            gold=_text(gold), original_correct=verdicts, original_extracted=extracted_list,
            subject=_text(row.get("subject")), level=row.get("level"),
        ))
    if not records:
        raise DatasetError(f"{path}: no records found")
    return ImportedFile("jsonl", records, model=models.pop() if len(models) == 1 else None,
                        original_metric=original_metric or "correct")


READERS: dict[str, Callable[[Path, str | None], ImportedFile]] = {
    "lm-eval": read_lm_eval,
    "lighteval": read_lighteval,
    "opencompass": read_opencompass,
    "qwen-eval": read_qwen_eval,
    "jsonl": read_plain_jsonl,
}


def read_file(path: str | Path, fmt: str, original_metric: str | None = None) -> ImportedFile:
    """Read ``path`` written by the tool ``fmt`` (a key of `READERS`)."""
    if fmt not in READERS:
        raise DatasetError(f"unknown format {fmt!r}; expected one of {', '.join(READERS)}")
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: file not found")
    if path.is_dir():
        raise DatasetError(f"{path}: is a folder; name the {fmt} results file inside it")
    return READERS[fmt](path, original_metric)
