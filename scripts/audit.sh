#!/usr/bin/env bash
# Checks Cargo.lock against the RustSec advisory database with cargo-audit;
# accepted advisories, each with its reason, are in .cargo/audit.toml.
#
# The database is a git repository (github.com/rustsec/advisory-db). This
# network reaches only the package registries, so it is read from a local
# copy: $HERALD_ADVISORY_DB, or ../shared/advisory-db beside the checkout.
# Without one the audit cannot run and says so loudly; with CI=true and
# HERALD_REQUIRE_AUDIT=true that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
db="${HERALD_ADVISORY_DB:-../shared/advisory-db}"
if [ ! -d "$db/crates" ]; then
  echo "######################################################################" >&2
  echo "note: dependency audit NOT run: no RustSec advisory database at $db" >&2
  echo "      (set HERALD_ADVISORY_DB to a checkout of rustsec/advisory-db)" >&2
  echo "######################################################################" >&2
  if [ "${HERALD_REQUIRE_AUDIT:-false}" = "true" ]; then
    exit 1
  fi
  exit 0
fi
if ! command -v cargo-audit >/dev/null 2>&1; then
  cargo install cargo-audit --locked --quiet
fi
cargo audit --db "$db" --no-fetch --stale
