#!/usr/bin/env bash
# The whole suite, twice: on SQLite, then on PostgreSQL (TEST_DATABASE_URL). Extra arguments go
# to pytest. REQUIRE_POSTGRES=1 makes an unreachable PostgreSQL an error instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE=tests.settings
TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}

$PY manage.py compilemessages -v0

# Browser tests drive Debian's chromium (Playwright cannot download browsers here).
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  echo "== Installing chromium for the browser tests (apt-get)"
  if [ "$(id -u)" = 0 ]; then
    SUDO=()
  elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
    SUDO=(sudo -n)
  else
    SUDO=(false)
  fi
  if ! { "${SUDO[@]}" apt-get update -qq > /tmp/linksite-apt.log 2>&1 &&
      DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq chromium \
        >> /tmp/linksite-apt.log 2>&1; }; then
    echo "Could not install chromium with apt-get (see /tmp/linksite-apt.log)." >&2
  fi
fi
if [ ! -x "$CHROMIUM" ]; then
  if [ "${REQUIRE_BROWSER:-0}" = "1" ]; then
    echo "REQUIRE_BROWSER=1 and $CHROMIUM is missing: failing." >&2
    exit 1
  fi
  echo "Browser tests will be skipped: $CHROMIUM is missing (set REQUIRE_BROWSER=1 to fail)."
fi

echo "== SQLite leg"
DATABASE_URL=sqlite:///var/test.sqlite3 $PY -m pytest "$@"

echo "== PostgreSQL leg ($TEST_DATABASE_URL)"
if DATABASE_URL=$TEST_DATABASE_URL $PY - <<'PYCHECK'
import os, sys
import environ, psycopg
cfg = environ.Env.db_url_config(os.environ["DATABASE_URL"])
try:
    psycopg.connect(
        dbname=cfg["NAME"], user=cfg["USER"], password=cfg["PASSWORD"] or None,
        host=cfg["HOST"] or None, port=cfg["PORT"] or None, connect_timeout=5,
    ).close()
except psycopg.OperationalError as exc:
    print(f"PostgreSQL is not reachable: {exc}".strip(), file=sys.stderr)
    sys.exit(1)
PYCHECK
then
  DATABASE_URL=$TEST_DATABASE_URL $PY -m pytest "$@"
elif [ "${REQUIRE_POSTGRES:-0}" = "1" ]; then
  echo "REQUIRE_POSTGRES=1 and PostgreSQL is not reachable at $TEST_DATABASE_URL: failing." >&2
  exit 1
else
  echo "Skipping the PostgreSQL leg: no server at $TEST_DATABASE_URL (set REQUIRE_POSTGRES=1 to fail instead)."
fi
