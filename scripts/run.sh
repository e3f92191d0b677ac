#!/usr/bin/env bash
# The local default run: web server and django-q2 worker on SQLite, demo data, an admin user.
# `make run QBO_DELIVERY=pull` (or QBO_DELIVERY=pull in the environment) shows pull mode: QBO,
# here the sandbox, reads the IDX API instead of being pushed to. The default is push.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${PORT:-8000}
export SITE_URL=${SITE_URL:-http://127.0.0.1:$PORT}

if [ ! -f .env ]; then
  umask 077
  {
    echo "# Written by 'make run' for the local default run. Delete it to start over."
    echo "DEBUG=1"
    echo "SECRET_KEY=$($PY -c 'import secrets; print(secrets.token_urlsafe(50))')"
  } > .env
  umask 022
  echo "Wrote .env (DEBUG=1, a new SECRET_KEY) for the local default run."
fi

# The QBO sandbox and its shared secrets (added to an older .env too).
add_setting() { grep -q "^$1=" .env || echo "$1=$2" >> .env; }
add_setting QBO_SANDBOX_ENABLED 1
add_setting QBO_PARTNER_KEY "local-$($PY -c 'import secrets; print(secrets.token_hex(8))')"
add_setting QBO_SIGNING_SECRET "$($PY -c 'import secrets; print(secrets.token_urlsafe(32))')"
add_setting QBO_APP_URL "$SITE_URL/qbo-sandbox/"
add_setting QBO_SANDBOX_PARTNER_KEY "sandbox-$($PY -c 'import secrets; print(secrets.token_hex(8))')"
# The sandbox stands in for QBO, a system of its own: its tables in a file of their own.
add_setting QBO_SANDBOX_DATABASE_URL sqlite:///var/qbo_sandbox.sqlite3
# Webhooks to a receiver on this machine: plain http and local addresses (never in production).
add_setting WEBHOOK_ALLOW_HTTP 1
add_setting WEBHOOK_ALLOW_PRIVATE_ADDRESSES 1

# How QBO gets the data: from the environment or the make command line, else .env, else push.
setting() { { grep "^$1=" .env || true; } | tail -1 | cut -d= -f2-; }
export QBO_DELIVERY=${QBO_DELIVERY:-$(setting QBO_DELIVERY)}
export QBO_DELIVERY=${QBO_DELIVERY:-push}
case ",$QBO_DELIVERY," in
  *,pull,*)
    # The sandbox pulls with its own partner key: linksite must accept it.
    sandbox_key=$(setting QBO_SANDBOX_PARTNER_KEY)
    keys=${IDX_PARTNER_KEYS:-$(setting IDX_PARTNER_KEYS)}
    export IDX_PARTNER_KEYS="${keys:+$keys,}$sandbox_key"
    mode="pull: the sandbox reads $SITE_URL/partners/intuit/idx/ (Update, and daily)"
    ;;
  *)
    mode="push: linksite sends batches to the sandbox (make run QBO_DELIVERY=pull for pull)"
    ;;
esac

$PY manage.py migrate --noinput -v0
$PY manage.py migrate --noinput -v0 --database qbo_sandbox
$PY manage.py compilemessages -v0
demo=$($PY manage.py loaddemo)
# In pull mode this adds the sandbox's daily pull; in push mode it removes it.
$PY manage.py setup_schedules > /dev/null
password=$($PY manage.py localadmin --username admin)

cat <<BANNER

  linksite is starting (web server and worker; Ctrl-C stops both).

  Operator admin:   $SITE_URL/admin/
    username:       admin
    password:       $password   (a new one at every 'make run')

  Demo data:
$(echo "$demo" | sed 's/^/    /')

  QBO sandbox:      $SITE_URL/qbo-sandbox/   (stands in for QuickBooks Online)
  Delivery mode:    $mode
$(case ",$QBO_DELIVERY," in *,pull,*) echo "  IDX API (pull):   $SITE_URL/partners/intuit/idx/   (OpenAPI: $SITE_URL/partners/intuit/idx/openapi.json)";; esac)
  Client API docs:  $SITE_URL/api/v1/docs   (OpenAPI: $SITE_URL/api/v1/openapi.json)
  API key for the demo companies:  .venv/bin/python manage.py createapikey demo-key --client demo
  Webhooks:         POST $SITE_URL/api/v1/webhooks {"url": "http://127.0.0.1:<port>/..."}
                    (http and local addresses are allowed in this run; see README, "Webhooks")

BANNER

pids=()
cleanup() {
  trap - INT TERM EXIT
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
# Ctrl-C (or a TERM) is how this run is meant to end: stop both, and end without an error.
trap 'echo; echo "Stopping linksite."; cleanup; exit 0' INT TERM
$PY manage.py runserver "127.0.0.1:$PORT" &
pids+=($!)
$PY manage.py qcluster &
pids+=($!)
# Whichever stops first stops the other.
wait -n
