#!/usr/bin/env bash
# Checks docs/deploy/herald.service as systemd reads it: `systemd-analyze
# verify` (any complaint, even an unknown key it would ignore, fails) and the
# sandbox's exposure score (`systemd-analyze security`: 2.0 at most on its 0–10 scale; the threshold is given in tenths).
# Usage: scripts/check-systemd-unit.sh PATH/TO/herald
set -euo pipefail
binary=$(realpath "$1")
unit_dir=$(mktemp -d)
trap 'rm -rf "$unit_dir"' EXIT
# The unit names /usr/local/bin/herald; verify wants an executable that exists.
sed "s#^ExecStart=/usr/local/bin/herald#ExecStart=$binary#" \
  "$(dirname "$0")/../docs/deploy/herald.service" >"$unit_dir/herald.service"
complaints=$(systemd-analyze verify "$unit_dir/herald.service" 2>&1) || {
  echo "$complaints" >&2
  exit 1
}
if [ -n "$complaints" ]; then
  echo "systemd-analyze verify complained about herald.service:" >&2
  echo "$complaints" >&2
  exit 1
fi
systemd-analyze security --offline=yes --threshold=20 "$unit_dir/herald.service" | tail -n 1
echo "herald.service: verified"
