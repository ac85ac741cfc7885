#!/usr/bin/env bash
# Measures counting segments (issue 14, item 5) with release builds: COUNT
# made-up subscribers (`herald-seed`: 70 % confirmed, 15 % pending, 10 %
# unsubscribed, 5 % bounced, over three years), given here, in SQL, what a
# list of that size carries besides: two more topics (a third and a fifth of
# the readers), a `signed_up` or `imported` event each, three sent issues
# (a copy for every confirmed reader, 2 % of them failed) and a soft bounce
# for one reader in forty. Then `herald segments count --filter JSON` for
# each segment below, RUNS times; the median of the time Herald reports
# (resolving the filter's topics and the count) and of the whole command
# (start, connect, count). Target: <= 1 s for 1,000,000 subscribers.
# With POSTGRES_URL set, the same on PostgreSQL, in a schema of its own
# (ANALYZEd after seeding, as autovacuum would; SQLite has no statistics,
# as Herald never runs ANALYZE).
# Usage: scripts/bench-segments.sh [COUNT]
#   COUNT defaults to 1000000; RUNS=5. The measurements run under the
#   shared lock ${BENCH_LOCK:-/tmp/herald-bench.lock} (the build before
#   them does not). Exit code 3 when a count took over the target.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-1000000}"
RUNS="${RUNS:-5}"
POSTGRES_URL="${POSTGRES_URL:-}"

if [ -z "${HERALD:-}" ]; then nice -n 10 cargo build --release --bin herald --bin herald-seed --quiet; fi
HERALD="${HERALD:-target/release/herald}"
SEED="${SEED:-target/release/herald-seed}"
exec 9> "${BENCH_LOCK:-/tmp/herald-bench.lock}"
flock 9
WORK="$(mktemp -d)"
SCHEMA="herald_segments_bench_$$"
cleanup() {
  if [ -n "$POSTGRES_URL" ]; then
    psql -q "$POSTGRES_URL" -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $SCHEMA CASCADE;" > /dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
export HERALD_SECRET_FILE="$WORK/herald.secret" HERALD_OUTBOX_DIR="$WORK/outbox" RUST_LOG=warn
MISSED=0

# Day boundaries of the seeded three years, in Unix milliseconds.
NOW=$(($(date +%s) * 1000))
YEAR=$((365 * 24 * 3600 * 1000))
# What the seeding adds beyond herald-seed; the same SQL on both engines.
EXTRA_SQL="
INSERT INTO topics (slug, name, description, visibility, on_by_default, created_at, updated_at)
  VALUES ('daily', 'Daily', '', 'public', 0, $NOW, $NOW), ('weekly', 'Weekly', '', 'public', 0, $NOW, $NOW);
INSERT INTO subscriber_topics (subscriber_id, topic_id, joined_at, source)
  SELECT s.id, t.id, s.created_at, 'signup' FROM subscribers s, topics t WHERE t.slug = 'daily' AND s.id % 3 = 0;
INSERT INTO subscriber_topics (subscriber_id, topic_id, joined_at, source)
  SELECT s.id, t.id, s.created_at, 'signup' FROM subscribers s, topics t WHERE t.slug = 'weekly' AND s.id % 5 = 0;
INSERT INTO subscriber_events (subscriber_id, kind, at)
  SELECT id, CASE WHEN id % 4 = 0 THEN 'imported' ELSE 'signed_up' END, created_at FROM subscribers;
INSERT INTO issues (subject, intro, status, created_at, updated_at, sent_at) VALUES
  ('One', 'Hi', 'sent', $((NOW - 2 * YEAR)), $((NOW - 2 * YEAR)), $((NOW - 2 * YEAR))),
  ('Two', 'Hi', 'sent', $((NOW - YEAR)), $((NOW - YEAR)), $((NOW - YEAR))),
  ('Three', 'Hi', 'sent', $((NOW - YEAR / 12)), $((NOW - YEAR / 12)), $((NOW - YEAR / 12)));
INSERT INTO deliveries (issue_id, subscriber_id, status, queued_at, next_attempt_at, sent_at, failed_at)
  SELECT i.id, s.id, CASE WHEN s.id % 50 = 0 THEN 'failed' ELSE 'sent' END, i.sent_at, i.sent_at,
         CASE WHEN s.id % 50 = 0 THEN NULL ELSE i.sent_at END,
         CASE WHEN s.id % 50 = 0 THEN i.sent_at ELSE NULL END
  FROM issues i, subscribers s WHERE s.status = 'confirmed' AND s.created_at < i.sent_at;
INSERT INTO bounce_reports (report_key, class, subscriber_id, received_at)
  SELECT 'bench-' || id, 'soft', id, created_at + 1000 FROM subscribers WHERE id % 40 = 0;
INSERT INTO custom_fields (field_key, label, kind, choices, required, visibility, created_at, updated_at)
  VALUES ('plan', 'Plan', 'choice', 'Free
Pro
Team', 0, 'internal', $NOW, $NOW);
INSERT INTO subscriber_field_values (subscriber_id, field_id, text_value)
  SELECT s.id, f.id, CASE WHEN s.id % 10 = 0 THEN 'Pro' WHEN s.id % 10 < 4 THEN 'Team' ELSE 'Free' END
  FROM subscribers s, custom_fields f WHERE f.field_key = 'plan' AND s.id % 2 = 0;
"

day() { date -u -d "@$(($1 / 1000))" +%F; }
ONE_YEAR_AGO=$(day $((NOW - YEAR)))
TWO_YEARS_AGO=$(day $((NOW - 2 * YEAR)))
HALF_YEAR_AGO=$(day $((NOW - YEAR / 2)))
# name|filter; topics 2 and 3 are daily and weekly (1 is the default topic);
# field 1 is plan.
SEGMENTS=(
  "confirmed daily readers|{\"conditions\":[{\"type\":\"status\",\"in\":[\"confirmed\"]},{\"type\":\"topics\",\"op\":\"any\",\"topics\":[2]}]}"
  "lapsed: confirmed, no copy in 6 months|{\"conditions\":[{\"type\":\"status\",\"in\":[\"confirmed\"]},{\"type\":\"received\",\"op\":\"none\",\"since\":\"$HALF_YEAR_AGO\"}]}"
  "imported in their second year|{\"conditions\":[{\"type\":\"signed_up\",\"op\":\"between\",\"from\":\"$TWO_YEARS_AGO\",\"to\":\"$ONE_YEAR_AGO\"},{\"type\":\"source\",\"in\":[\"import\"]}]}"
  "in daily and weekly, never bounced|{\"conditions\":[{\"type\":\"topics\",\"op\":\"all\",\"topics\":[2,3]},{\"type\":\"bounced\",\"op\":\"none\"}]}"
  "confirmed on the Pro plan|{\"conditions\":[{\"type\":\"status\",\"in\":[\"confirmed\"]},{\"type\":\"field\",\"field\":1,\"op\":\"eq\",\"value\":\"Pro\"}]}"
  "bounced or never reached (any)|{\"match\":\"any\",\"conditions\":[{\"type\":\"bounced\"},{\"type\":\"received\",\"op\":\"none\"}]}"
)

middle() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# Times every segment RUNS times against DATABASE_URL; prints a table.
time_segments() {
  local engine="$1" entry name filter run start wall ms subscribers walls herald_ms
  printf '%-42s %12s %12s %12s\n' "segment ($engine)" subscribers "herald ms" "command ms"
  for entry in "${SEGMENTS[@]}"; do
    name="${entry%%|*}"
    filter="${entry#*|}"
    walls=()
    herald_ms=()
    for run in $(seq 1 "$RUNS"); do
      start=$EPOCHREALTIME
      subscribers=$("$HERALD" segments count --filter "$filter" 2> "$WORK/count.err") || { cat "$WORK/count.err" >&2; exit 1; }
      wall=$(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (e - s) * 1000 }')
      ms=$(sed -n 's/^counted in \([0-9]*\) ms$/\1/p' "$WORK/count.err")
      walls+=("$wall")
      herald_ms+=("$ms")
    done
    local m_ms m_wall
    m_ms=$(printf '%s\n' "${herald_ms[@]}" | middle)
    m_wall=$(printf '%s\n' "${walls[@]}" | middle)
    printf '%-42s %12s %12s %12s\n' "$name" "$subscribers" "$m_ms" "$m_wall"
    local limit=1000
    if [ "$m_ms" -gt "$limit" ]; then MISSED=1; echo "  MISSED: over $limit ms"; fi
  done
}

echo "== $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), $(date -u +%FT%TZ)"
echo "== $COUNT subscribers; median of $RUNS runs"

command -v sqlite3 > /dev/null || { echo "needs sqlite3 (apt-get install -y sqlite3)" >&2; exit 1; }
export DATABASE_URL="sqlite://$WORK/segments.db"
"$SEED" --count "$COUNT" 2> "$WORK/seed.log"
start=$EPOCHREALTIME
sqlite3 "$WORK/segments.db" "PRAGMA journal_mode = WAL; BEGIN; $EXTRA_SQL COMMIT;" > /dev/null
echo "seeded the extras on SQLite in $(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }') s: $(sqlite3 "$WORK/segments.db" "SELECT count(*) FROM deliveries") copies, $(sqlite3 "$WORK/segments.db" "SELECT count(*) FROM subscriber_topics") memberships"
time_segments sqlite
rm -f "$WORK"/segments.db*

if [ -n "$POSTGRES_URL" ]; then
  separator="?"
  case "$POSTGRES_URL" in *\?*) separator="&" ;; esac
  export DATABASE_URL="${POSTGRES_URL}${separator}options=-c%20search_path%3D$SCHEMA"
  psql -q "$POSTGRES_URL" -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $SCHEMA CASCADE; CREATE SCHEMA $SCHEMA;" > /dev/null
  "$SEED" --count "$COUNT" 2> "$WORK/seed.log"
  psql -q "$POSTGRES_URL" -v ON_ERROR_STOP=1 -c "SET search_path = $SCHEMA; BEGIN; $EXTRA_SQL COMMIT; ANALYZE;" > /dev/null
  time_segments postgres
fi
exit $((MISSED * 3))
