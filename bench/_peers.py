"""The peer tools (lm-eval, inspect_ai): their own virtualenv, and the command lines that run them.

`--with-peers` makes `bench/.peers-venv` (git-ignored) and pip-installs there, never into the project's
environment: first `torch==2.13.0` (on these machines pip finds a local CPU wheel for it; pinning it as a
constraint afterwards stops pip from replacing it with a CUDA build), then `lm-eval[api]`, `inspect-ai` and
`openai`. A second `--with-peers` run finds the venv ready and installs nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV = BENCH / ".peers-venv"
PEERS_DIR = BENCH / "peers"
TORCH = "torch==2.13.0"
PACKAGES = ["lm-eval[api]", "inspect-ai", "openai"]
PEERS = ("lm-eval", "inspect_ai")


def venv_python() -> Path:
    return VENV / "bin" / "python"


def peers_ready() -> bool:
    if not venv_python().exists():
        return False
    probe = subprocess.run([str(venv_python()), "-c", "import lm_eval, inspect_ai, openai"],
                           capture_output=True, check=False)
    return probe.returncode == 0


def ensure_peers(log=print) -> dict:
    """Create and fill the venv when needed; return {ready, install_s, versions, error}."""
    if peers_ready():
        return {"ready": True, "install_s": 0.0, "versions": peer_versions(), "installed_now": False}
    t0 = time.perf_counter()
    py = venv_python()
    try:
        if not py.exists():
            log(f"peers: creating {VENV}")
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(py), "-m", "pip", "install", "--quiet"]
        log(f"peers: pip install {TORCH} (CPU wheel) into {VENV}")
        subprocess.run([*pip, TORCH], check=True)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
            fh.write(TORCH + "\n")
            constraints = fh.name
        log(f"peers: pip install {' '.join(PACKAGES)} (torch pinned)")
        subprocess.run([*pip, "-c", constraints, *PACKAGES], check=True)
        os.unlink(constraints)
    except (subprocess.CalledProcessError, OSError) as exc:
        return {"ready": False, "install_s": time.perf_counter() - t0, "error": str(exc), "installed_now": True}
    ok = peers_ready()
    return {"ready": ok, "install_s": time.perf_counter() - t0, "versions": peer_versions() if ok else {},
            "installed_now": True, **({} if ok else {"error": "lm_eval / inspect_ai not importable after install"})}


def peer_versions() -> dict:
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('lm_eval', 'inspect_ai', 'openai', 'torch')}))")
    out = subprocess.run([str(venv_python()), "-c", code], capture_output=True, text=True, check=False)
    try:
        import json

        return json.loads(out.stdout)
    except ValueError:
        return {}


def peer_env(data: Path) -> dict:
    """Environment for a peer process: offline hub, a private HF cache, a dummy key for the local server."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith(("OPENAI_", "SCRIPTED_", "INSPECT_")):
            env.pop(key)
    env.update({
        "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(VENV / "hf-home"), "TOKENIZERS_PARALLELISM": "false",
        "BENCH_MATH500": str(data), "OPENAI_API_KEY": "bench", "SCRIPTED_API_KEY": "bench",
        "PATH": f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}", "VIRTUAL_ENV": str(VENV),
    })
    env.pop("PYTHONPATH", None)
    return env


class LmEvalCmd:
    """`lm_eval --model local-chat-completions` on the task in peers/lm_eval, `num_concurrent` = concurrency."""

    def __init__(self, problems: int, concurrency: int) -> None:
        self.problems, self.concurrency = problems, concurrency

    def __call__(self, base_url: str, workdir: Path) -> list[str]:
        model_args = ",".join([
            "model=bench", f"base_url={base_url}/chat/completions", f"num_concurrent={self.concurrency}",
            "tokenized_requests=False",
        ])
        return [str(venv_python()), "-m", "lm_eval", "--model", "local-chat-completions", "--model_args", model_args,
                "--include_path", str(PEERS_DIR / "lm_eval"), "--tasks", "mathgauge_math500",
                "--apply_chat_template", "--limit", str(self.problems), "--batch_size", "1",
                "--output_path", str(workdir / "out"), "--log_samples"]

    def after(self, workdir: Path, res) -> dict:
        import json

        found = sorted((workdir / "out").rglob("results_*.json"))
        if not found:  # lm-eval writes nothing until every request is done: a crash keeps no sample
            return {"tool_score": None, "tool_kept": 0}
        doc = json.loads(found[-1].read_text())
        task = doc.get("results", {}).get("mathgauge_math500", {})
        kept = sum(1 for f in (workdir / "out").rglob("samples_mathgauge_math500_*.jsonl")
                   for line in f.read_text().splitlines() if line.strip())
        return {"tool_score": task.get("exact_match,none"), "tool_kept": kept}


class InspectCmd:
    """`inspect eval` of peers/inspect_math500.py with the `openai-api` provider, `--max-connections` = concurrency."""

    def __init__(self, problems: int, concurrency: int, data: Path) -> None:
        self.problems, self.concurrency, self.data = problems, concurrency, data

    def __call__(self, base_url: str, workdir: Path) -> list[str]:
        # openai-api/<service>/<model>: the key and base URL come from SCRIPTED_API_KEY / SCRIPTED_BASE_URL;
        # --model-base-url says the same explicitly.
        # inspect wants the task file relative to the working directory (the repository root)
        return [str(VENV / "bin" / "inspect"), "eval", str((PEERS_DIR / "inspect_math500.py").relative_to(REPO)),
                "--model", "openai-api/scripted/bench", "--model-base-url", base_url,
                "-T", f"data_file={self.data}", "--limit", str(self.problems),
                "--max-connections", str(self.concurrency), "--log-dir", str(workdir / "logs-inspect"),
                "--display", "none"]

    def after(self, workdir: Path, res) -> dict:
        """The task's accuracy and the samples kept without error, from inspect's own log (after the timed run)."""
        code = ("import sys, json\n"
                "from inspect_ai.log import list_eval_logs, read_eval_log\n"
                "logs = list_eval_logs(sys.argv[1])\n"
                "log = read_eval_log(logs[0]) if logs else None\n"
                "acc = None\n"
                "if log is not None and log.results and log.results.scores:\n"
                "    m = log.results.scores[0].metrics.get('accuracy')\n"
                "    acc = m.value if m else None\n"
                "kept = sum(1 for x in (log.samples or []) if x.error is None) if log else 0\n"
                "print(json.dumps({'tool_score': acc, 'tool_status': log.status if log else None,\n"
                "                  'tool_kept': kept}))\n")
        out = subprocess.run([str(venv_python()), "-c", code, str(workdir / "logs-inspect")], capture_output=True,
                             text=True, timeout=120, check=False)
        try:
            import json

            return json.loads(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"tool_score": None}
