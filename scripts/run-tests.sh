#!/usr/bin/env bash
# Install everything the test suite needs (Debian packages + pip), check the import layers, then run the whole suite.
# Namespace tests need root (they create their own lab hosts in 198.18.0.0/15); as root nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
for pair in fping:fping nft:nftables ip:iproute2 chromium:chromium chromedriver:chromium-driver promtool:prometheus amtool:prometheus-alertmanager systemd-analyze:systemd faketime:faketime; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair#*:}")
done
# WeasyPrint (PDF reports) loads Pango and HarfBuzz at run time, and needs a font
for pair in libpango-1.0.so.0:libpango-1.0-0 libpangoft2-1.0.so.0:libpangoft2-1.0-0 \
            libharfbuzz-subset.so.0:libharfbuzz-subset0 DejaVuSans.ttf:fonts-dejavu-core; do
  if ! ldconfig -p 2>/dev/null | grep -q "${pair%%:*}" && ! fc-list 2>/dev/null | grep -q "${pair%%:*}"; then
    need_apt+=("${pair#*:}")
  fi
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "missing Debian packages: ${need_apt[*]} (sudo apt-get install ${need_apt[*]}); tests that need them will be skipped" >&2
  fi
fi
# Outside a virtual environment (a fresh Debian 12 / Ubuntu 24.04 refuses `pip install` into the system
# Python, PEP 668), make one in .venv and use it; inside one (CI makes a fresh one), use that.
if python3 -c 'import sys; sys.exit(0 if sys.prefix == sys.base_prefix else 1)'; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    else
      echo "python3-venv is missing: sudo apt-get install python3-venv" >&2; exit 2
    fi
  fi
  [ -x .venv/bin/python3 ] || python3 -m venv .venv
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
python3 -m pip install -q -e '.[test,lint]'
# The architecture first (well under a second): an import against the layers of .importlinter, or an import
# cycle, fails the run before any test.
out=$(lint-imports --no-cache 2>&1) || { echo "$out" >&2; echo "lint-imports: an import breaks the layers (.importlinter)" >&2; exit 1; }
echo "lint-imports: $(echo "$out" | grep -E '^Contracts:')"
ruff check --no-cache --quiet . || { echo "ruff: fix the lines above (rules: pyproject.toml [tool.ruff])" >&2; exit 1; }
echo "ruff: clean"
mypy --no-error-summary || { echo "mypy: fix the types above (settings: setup.cfg [mypy])" >&2; exit 1; }
echo "mypy: clean (strict for config, engine, store, notify)"
# Four workers (pytest-xdist): the suite's wall time is its real-time lab and e2e scenarios, not CPU (a serial
# run is ~10.5 min with under 2 min of CPU; four workers ~6 min on 2 cores). NETWATCHD_TEST_WORKERS=0 runs it serially.
exec python3 -m pytest -q -n "${NETWATCHD_TEST_WORKERS:-4}" "$@"
