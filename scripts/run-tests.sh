#!/usr/bin/env bash
# Install everything the test suite needs (Debian packages + pip), then run the whole suite.
# Namespace tests need root (they create their own lab hosts in 198.18.0.0/15); as root nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
for pair in fping:fping nft:nftables ip:iproute2 chromium:chromium chromedriver:chromium-driver promtool:prometheus amtool:prometheus-alertmanager systemd-analyze:systemd; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair#*:}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "missing Debian packages: ${need_apt[*]} (sudo apt-get install ${need_apt[*]}); tests that need them will be skipped" >&2
  fi
fi
python3 -m pip install -q -e '.[test]'
exec python3 -m pytest -q "$@"
