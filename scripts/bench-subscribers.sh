#!/usr/bin/env bash
# Measures subscriber administration at scale, with release builds:
#   import  `herald subscribers import` of COUNT rows into a fresh SQLite
#           database, next to an anchor in the same run: sqlite3's `.import`
#           of the same file into a bare `(email, name)` table with Herald's
#           settings (WAL, synchronous=NORMAL). Timed: the rows with consent
#           (`--confirmed --consent-note`: confirmed at once, each with an
#           `imported` event holding the note as consent evidence; no mail),
#           the same file again (nothing changes), and the rows pending: every
#           address gets a confirmation link and an outbox row, counted after
#           the command. Median of IMPORT_RUNS runs; targets: 1,000,000 with
#           consent in <= 15 s, a 1,000,000-row pending import's confirmations
#           queued in <= 60 s. With POSTGRES_URL set, the same on PostgreSQL
#           (a fresh schema per run; anchor: psql's \copy into a bare table);
#   list    the admin list page, pages and searches, over HTTP with curl
#           against a running `herald serve` on a database of COUNT made-up
#           subscribers of every status (`herald-seed`): the median of RUNS
#           requests each;
#   export  `herald subscribers export` of the whole list: time and peak memory.
# Usage: scripts/bench-subscribers.sh [COUNT] [PARTS]
#   COUNT defaults to 1000000; PARTS to "import list export"; RUNS=9,
#   IMPORT_RUNS=3. The measurements run under the shared lock
#   ${BENCH_LOCK:-/tmp/herald-bench.lock} (the build before them does not).
# Exit code 3 when an import target was missed.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-1000000}"
PARTS="${2:-import list export}"
RUNS="${RUNS:-9}"
IMPORT_RUNS="${IMPORT_RUNS:-3}"
POSTGRES_URL="${POSTGRES_URL:-}"

# HERALD (and SEED) may name other executables, e.g. an earlier build to compare.
if [ -z "${HERALD:-}" ]; then nice -n 10 cargo build --release --bins --quiet; fi
HERALD="${HERALD:-target/release/herald}"
SEED="${SEED:-target/release/herald-seed}"
exec 9> "${BENCH_LOCK:-/tmp/herald-bench.lock}"
flock 9
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

wants() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# Seconds since `start`, with millisecond precision.
seconds_since() { awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.3f", e - s }'; }
middle() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
verdict() { awk -v t="$1" -v limit="$2" 'BEGIN { if (t <= limit) print "met"; else print "MISSED" }'; }
MISSED=0
NOTE="benchmark data, consent recorded on paper"

# One import on SQLite: the anchor, then Herald with consent, again, and pending.
# Prints "anchor confirmed again pending" in seconds.
sqlite_import_run() {
  local dir="$WORK/import-$1" start anchor confirmed again pending queued
  mkdir -p "$dir"
  sqlite3 "$dir/anchor.db" "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
    CREATE TABLE people (email TEXT NOT NULL, name TEXT);" > /dev/null
  start=$EPOCHREALTIME
  sqlite3 "$dir/anchor.db" "PRAGMA synchronous = NORMAL;" ".import --csv --skip 1 $WORK/people.csv people"
  anchor=$(seconds_since "$start")
  export DATABASE_URL="sqlite://$dir/confirmed.db"
  "$HERALD" migrate > /dev/null
  start=$EPOCHREALTIME
  logged "$dir/confirmed.log" "$HERALD" subscribers import "$WORK/people.csv" --confirmed --consent-note "$NOTE"
  confirmed=$(seconds_since "$start")
  start=$EPOCHREALTIME
  logged "$dir/again.log" "$HERALD" subscribers import "$WORK/people.csv" --confirmed --consent-note "$NOTE"
  again=$(seconds_since "$start")
  check_sqlite "$dir/confirmed.db" "SELECT count(*) FROM subscribers WHERE status = 'confirmed'" "$COUNT" confirmed
  check_sqlite "$dir/confirmed.db" "SELECT count(*) FROM subscriber_events WHERE kind = 'imported' AND note = '$NOTE'" "$COUNT" "consent events"
  rm -f "$dir/confirmed.db"*
  export DATABASE_URL="sqlite://$dir/pending.db"
  "$HERALD" migrate > /dev/null
  start=$EPOCHREALTIME
  logged "$dir/pending.log" "$HERALD" subscribers import "$WORK/people.csv"
  pending=$(seconds_since "$start")
  check_sqlite "$dir/pending.db" "SELECT count(*) FROM outbox WHERE kind = 'confirmation' AND token_seed IS NOT NULL" "$COUNT" "queued confirmations"
  check_sqlite "$dir/pending.db" "SELECT count(DISTINCT subscriber_id) FROM confirmation_tokens" "$COUNT" "confirmation links"
  rm -rf "$dir"
  echo "$anchor $confirmed $again $pending"
}

# Runs an import with its output in the log `$1`; on failure shows the log and stops.
logged() {
  local log="$1"
  shift
  "$@" > "$log" 2>&1 || { echo "failed: $*" >&2; tail -n 20 "$log" >&2; exit 1; }
}

check_sqlite() {
  local found
  found=$(sqlite3 "$1" "$2")
  if [ "$found" != "$3" ]; then echo "expected $3 $4, found $found" >&2; exit 1; fi
}

# The same on PostgreSQL, each run in a schema of its own.
postgres_import_run() {
  local schema="herald_import_bench_$$_$1" url start anchor confirmed again pending separator="?"
  case "$POSTGRES_URL" in *\?*) separator="&" ;; esac
  url="${POSTGRES_URL}${separator}options=-c%20search_path%3D$schema"
  psql -q "$POSTGRES_URL" -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema;
    CREATE TABLE $schema.people (email TEXT NOT NULL, name TEXT);" > /dev/null
  start=$EPOCHREALTIME
  psql -q "$POSTGRES_URL" -c "\copy $schema.people (email, name) FROM '$WORK/people.csv' WITH (FORMAT csv, HEADER true)"
  anchor=$(seconds_since "$start")
  export DATABASE_URL="$url"
  "$HERALD" migrate > /dev/null
  start=$EPOCHREALTIME
  logged "$WORK/postgres-confirmed.log" "$HERALD" subscribers import "$WORK/people.csv" --confirmed --consent-note "$NOTE"
  confirmed=$(seconds_since "$start")
  start=$EPOCHREALTIME
  logged "$WORK/postgres-again.log" "$HERALD" subscribers import "$WORK/people.csv" --confirmed --consent-note "$NOTE"
  again=$(seconds_since "$start")
  check_postgres "SELECT count(*) FROM $schema.subscriber_events WHERE kind = 'imported' AND note = '$NOTE'" "$COUNT" "consent events"
  psql -q "$POSTGRES_URL" -c "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE; CREATE SCHEMA $schema;" > /dev/null
  "$HERALD" migrate > /dev/null
  start=$EPOCHREALTIME
  logged "$WORK/postgres-pending.log" "$HERALD" subscribers import "$WORK/people.csv"
  pending=$(seconds_since "$start")
  check_postgres "SELECT count(*) FROM $schema.outbox WHERE kind = 'confirmation' AND token_seed IS NOT NULL" "$COUNT" "queued confirmations"
  psql -q "$POSTGRES_URL" -c "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE;" > /dev/null
  echo "$anchor $confirmed $again $pending"
}

check_postgres() {
  local found
  found=$(psql -qtA "$POSTGRES_URL" -c "$1")
  if [ "$found" != "$2" ]; then echo "expected $2 $3, found $found" >&2; exit 1; fi
}

# Runs `$1_import_run` IMPORT_RUNS times and prints each run, the medians and the targets.
import_bench() {
  local engine="$1" anchor="$2" figures=() run line
  echo "== import on $engine: $COUNT rows, median of $IMPORT_RUNS runs (seconds)"
  printf '%-6s %10s %12s %10s %10s %14s\n' run "$anchor" "consent" again pending "consent/anchor"
  for run in $(seq 1 "$IMPORT_RUNS"); do
    line=$("${engine}_import_run" "$run")
    figures+=("$line")
    set -- $line
    printf '%-6s %10s %12s %10s %10s %13sx\n' "$run" "$1" "$2" "$3" "$4" "$(ratio "$2" "$1")"
  done
  local m=() column
  for column in 1 2 3 4; do
    m+=("$(printf '%s\n' "${figures[@]}" | awk -v c="$column" '{ print $c }' | middle)")
  done
  printf '%-6s %10s %12s %10s %10s %13sx\n' median "${m[0]}" "${m[1]}" "${m[2]}" "${m[3]}" "$(ratio "${m[1]}" "${m[0]}")"
  # The targets are for a million rows; other counts are scaled to them.
  local consent_limit pending_limit
  consent_limit=$(awk -v n="$COUNT" 'BEGIN { printf "%.3f", 15 * n / 1000000 }')
  pending_limit=$(awk -v n="$COUNT" 'BEGIN { printf "%.3f", 60 * n / 1000000 }')
  local consent_verdict pending_verdict
  consent_verdict=$(verdict "${m[1]}" "$consent_limit")
  pending_verdict=$(verdict "${m[3]}" "$pending_limit")
  echo "target: with consent <= $consent_limit s: $consent_verdict (${m[1]} s)"
  echo "target: pending, every confirmation queued <= $pending_limit s: $pending_verdict (${m[3]} s, $COUNT outbox rows counted)"
  if [ "$consent_verdict" != met ] || [ "$pending_verdict" != met ]; then MISSED=1; fi
}

if wants import; then
  command -v sqlite3 > /dev/null || { echo "needs sqlite3 (apt-get install -y sqlite3)" >&2; exit 1; }
  echo "== $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), $(date -u +%FT%TZ)"
  "$SEED" --count "$COUNT" --csv > "$WORK/people.csv"
  ls -lh "$WORK/people.csv" | awk '{ print "file: " $5 }'
  import_bench sqlite "sqlite3"
  if [ -n "$POSTGRES_URL" ]; then
    import_bench postgres "psql"
  fi
  rm -f "$WORK/people.csv"
fi

if wants list; then
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

fi

if wants export; then
echo "== export: $COUNT subscribers to a file"
export DATABASE_URL="sqlite://$WORK/list.db"
[ -f "$WORK/list.db" ] || "$SEED" --count "$COUNT"
/usr/bin/time -f "%e s, peak memory %M KB" "$HERALD" subscribers export > "$WORK/export.csv"
echo "$(($(wc -l < "$WORK/export.csv") - 1)) rows exported"
fi
exit $((MISSED * 3))
