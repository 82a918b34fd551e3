#!/usr/bin/env bash
# Kept for old habits: the test tools (Chromium and nginx) are installed by ensure-test-tools.sh.
exec "$(dirname "$0")/ensure-test-tools.sh" "$@"
