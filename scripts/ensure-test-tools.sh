#!/usr/bin/env bash
# The slow tests drive Debian's own programs, never downloaded ones: Chromium (browser tests)
# and nginx (the load balancer test runs deploy/nginx.conf). Install whichever is missing, with
# one `apt-get update` and only when something is; this needs root (as on CI) or sudo.
set -euo pipefail

missing=()
# binary:package pairs
for pair in /usr/bin/chromium:chromium /usr/bin/chromedriver:chromium-driver /usr/sbin/nginx:nginx-light; do
  binary=${pair%%:*}
  package=${pair#*:}
  if [ ! -x "$binary" ]; then missing+=("$package"); fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "Installing Debian's ${missing[*]} for the tests..."
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
