#!/usr/bin/env bash
# The slow tests drive Debian's own programs, never downloaded ones: Chromium (browser tests),
# nginx (the load balancer test runs deploy/nginx.conf) and promtool (the monitoring test
# checks deploy/prometheus/). Install whichever is missing, with one `apt-get update` and only
# when something is; this needs root (as on CI) or sudo. promtool is taken out of Debian's
# `prometheus` package into /usr/local/bin without installing (or starting) the server.
# Docker (the compose test) is not installed here: that test runs where Docker is, and is
# skipped elsewhere (apt-get install docker.io docker-compose debootstrap to have it).
set -euo pipefail

missing=()
# binary:package pairs
for pair in /usr/bin/chromium:chromium /usr/bin/chromedriver:chromium-driver /usr/sbin/nginx:nginx-light; do
  binary=${pair%%:*}
  package=${pair#*:}
  if [ ! -x "$binary" ]; then missing+=("$package"); fi
done
need_promtool=0
if ! command -v promtool >/dev/null 2>&1; then need_promtool=1; fi
if [ ${#missing[@]} -eq 0 ] && [ "$need_promtool" = 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian's ${missing[*]} for the tests..."
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$need_promtool" = 1 ]; then
  echo "Taking promtool from Debian's prometheus package for the tests..."
  workdir=$(mktemp -d)
  trap 'rm -rf "$workdir"' EXIT
  (cd "$workdir" && apt-get download -qq prometheus 2>/dev/null)
  dpkg-deb -x "$workdir"/prometheus_*.deb "$workdir/root"
  $SUDO install -m 755 "$workdir/root/usr/bin/promtool" /usr/local/bin/promtool
fi
