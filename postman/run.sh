#!/usr/bin/env bash
# Run the Postman collection with newman against a live gunicorn on the embedded backend.
# Starts the server on a free loopback port (demo data off), waits for /health, runs newman
# with baseUrl pointed at it, always stops the server, and exits with newman's status.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${VENV_BIN:-.venv/bin}
NEWMAN_VERSION=6
NEWMAN_DIR=postman/.newman

newman_cmd() {
  if [[ -x "$NEWMAN_DIR/node_modules/.bin/newman" ]]; then
    echo "$NEWMAN_DIR/node_modules/.bin/newman"
    return
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "postman/run.sh: newman needs Node.js (16+) and npm; install them, e.g." \
      "'apt-get install nodejs npm', and run again." >&2
    exit 2
  fi
  echo "installing newman@$NEWMAN_VERSION from the npm registry into $NEWMAN_DIR" >&2
  mkdir -p "$NEWMAN_DIR"
  npm install --prefix "$NEWMAN_DIR" --no-save --no-audit --no-fund --loglevel=error \
    "newman@$NEWMAN_VERSION" >&2
  echo "$NEWMAN_DIR/node_modules/.bin/newman"
}
NEWMAN=$(newman_cmd)

PORT=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE_URL="http://127.0.0.1:$PORT"
LOG=$(mktemp -t halls-postman.XXXXXX)

# The embedded backend, whatever the caller's shell or .env says (FLASK_SKIP_DOTENV): the
# collection creates its own accounts and venue, and must not touch a real database. The
# collection makes fewer than 10 auth calls, so the production rate limits stay on.
env -u MONGO_URI FLASK_SKIP_DOTENV=1 HALLS_ENV=development HALLS_DEMO_DATA=false \
  BIND="127.0.0.1:$PORT" \
  "$BIN/gunicorn" -c gunicorn.conf.py wsgi:app >"$LOG" 2>&1 &
SERVER=$!

stop_server() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -f "$LOG"
}
trap stop_server EXIT

if ! "$BIN/python" - "$BASE_URL/health" "$SERVER" <<'PY'
import os, sys, time, urllib.request

url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the server exited before answering /health")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.3)
sys.exit("the server did not answer /health within 60 seconds")
PY
then
  echo "postman/run.sh: the server did not start; its log:" >&2
  cat "$LOG" >&2
  exit 1
fi
echo "server up at $BASE_URL (pid $SERVER)"

set +e
"$NEWMAN" run postman/halls.postman_collection.json \
  --environment postman/local.postman_environment.json \
  --env-var "baseUrl=$BASE_URL" \
  --reporters cli \
  --color off
status=$?
set -e

if [[ $status -ne 0 ]]; then
  echo "postman/run.sh: newman failed ($status); the last lines of the server log:" >&2
  tail -n 40 "$LOG" >&2
fi
exit "$status"
