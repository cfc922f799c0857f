#!/usr/bin/env bash
# Creates model-export/.venv from requirements.txt, or does nothing when it is already up to date
# (a stamp holds the hash of the requirements it was built from). Extra pip arguments, such as a
# local wheelhouse index, come from PIP_INSTALL_ARGS.
set -euo pipefail
cd "$(dirname "$0")"
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [[ -x .venv/bin/python && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
echo "model-export: installing the Python environment (.venv) from requirements.txt" >&2
python3 -m venv .venv
# shellcheck disable=SC2086  # PIP_INSTALL_ARGS is a list of words on purpose
.venv/bin/pip install --disable-pip-version-check --progress-bar on ${PIP_INSTALL_ARGS:-} -r requirements.txt
echo "$want" >"$stamp"
