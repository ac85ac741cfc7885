#!/usr/bin/env bash
# Measures subscriber administration at scale, on SQLite, with release builds:
#   1. `herald subscribers import` of COUNT rows (confirmed, so no mail is
#      queued), then the same file again (nothing changes);
#   2. the admin list page, pages and searches, over HTTP with curl against a
#      running `herald serve` on a database of COUNT made-up subscribers of
#      every status (`herald-seed`): the median of RUNS requests each;
#   3. `herald subscribers export` of the whole list: time and peak memory.
# Usage: scripts/bench-subscribers.sh [COUNT]   (COUNT defaults to 1000000; RUNS=9)
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-1000000}"
RUNS="${RUNS:-9}"

cargo build --release --bins --quiet
HERALD=target/release/herald
SEED=target/release/herald-seed
WORK="$(mktemp -d)"
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
export HERALD_BIND="127.0.0.1:$PORT" HERALD_BASE_URL="$BASE"
export HERALD_SECRET_FILE="$WORK/herald.secret" HERALD_OUTBOX_DIR="$WORK/outbox"
export RUST_LOG=warn

median() { sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] * 1000 }'; }

echo "== import: $COUNT rows (--confirmed), release build"
"$SEED" --count "$COUNT" --csv > "$WORK/people.csv"
ls -lh "$WORK/people.csv" | awk '{ print "file: " $5 }'
export DATABASE_URL="sqlite://$WORK/import.db"
"$HERALD" migrate > /dev/null
"$HERALD" subscribers import "$WORK/people.csv" --confirmed --consent-note "benchmark data"
echo "-- the same file again"
"$HERALD" subscribers import "$WORK/people.csv" --confirmed --consent-note "benchmark data"

echo "== list: $COUNT subscribers of every status; median of $RUNS requests, milliseconds"
export DATABASE_URL="sqlite://$WORK/list.db"
"$SEED" --count "$COUNT"
HERALD_PASSWORD="benchmark password" "$HERALD" user add bench@example.com --role admin > /dev/null
"$HERALD" serve > "$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  curl -fs "$BASE/health" > /dev/null && break
  sleep 0.1
done
JAR="$WORK/cookies"
CSRF="$(curl -fs -c "$JAR" -b "$JAR" "$BASE/admin/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1)"
curl -fs -o /dev/null -c "$JAR" -b "$JAR" --data-urlencode "csrf_token=$CSRF" \
  --data-urlencode "email=bench@example.com" --data-urlencode "password=benchmark password" "$BASE/admin/login"
MIDDLE=$((COUNT / 2))
for path in \
  "/admin/subscribers" \
  "/admin/subscribers?after=$MIDDLE" \
  "/admin/subscribers?status=bounced" \
  "/admin/subscribers?status=bounced&after=$MIDDLE" \
  "/admin/subscribers?q=hugo.martin" \
  "/admin/subscribers?q=ada.lovelace$MIDDLE" \
  "/admin/subscribers?q=lovelace" \
  "/admin/subscribers?q=ada+lovelace" \
  "/admin/subscribers?q=lovelace&status=bounced&after=$MIDDLE" \
  "/admin/subscribers?q=a" \
  "/admin/subscribers?q=m&status=bounced" \
  "/admin/subscribers?q=zzzz"; do
  status="$(curl -s -o /dev/null -w '%{http_code}' -b "$JAR" "$BASE$path")"
  [ "$status" = 200 ] || { echo "$path answered $status" >&2; exit 1; }
  ms="$(for _ in $(seq 1 "$RUNS"); do curl -s -o /dev/null -w '%{time_total}\n' -b "$JAR" "$BASE$path"; done | median)"
  printf '%8s ms  %s\n' "$ms" "$path"
done

echo "== export: $COUNT subscribers to a file"
/usr/bin/time -f "%e s, peak memory %M KB" "$HERALD" subscribers export > "$WORK/export.csv"
echo "$(($(wc -l < "$WORK/export.csv") - 1)) rows exported"
