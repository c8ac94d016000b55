"""Gunicorn settings, read from the environment: `gunicorn -c gunicorn.conf.py wsgi:app`."""

import gc
import os

from halls.config import load_env_file

# `.env` first: BIND, WEB_CONCURRENCY and the rest may come from it, as the app's settings do.
load_env_file()

bind = os.environ.get("BIND", "127.0.0.1:8000")

# The embedded database (MONGO_URI unset) lives inside one process: a second worker would
# have a second, different database. So one worker there, and threads for concurrency.
workers = int(os.environ.get("WEB_CONCURRENCY", 2)) if os.environ.get("MONGO_URI") else 1
threads = int(os.environ.get("GUNICORN_THREADS", 8))
worker_class = "gthread"

timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))

# Logs to stdout/stderr, where Docker and systemd collect them. halls itself writes one JSON
# line per request (method, path, status, duration, user, request id), so gunicorn's own
# access log is off unless GUNICORN_ACCESS_LOG names a target ("-" for stdout).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def on_starting(server):
    """Say so when WEB_CONCURRENCY is overridden by the embedded backend's one worker."""
    if not os.environ.get("MONGO_URI") and int(os.environ.get("WEB_CONCURRENCY", 1)) > 1:
        server.log.warning("WEB_CONCURRENCY ignored: the embedded database runs in one worker")


# Python runs its cyclic garbage collector after every 700 net new container objects. One
# search or booking makes thousands, so each set off collections of the objects then in
# flight on every thread, which promoted them, and every few hundred requests a collection of
# the whole heap (on the embedded backend, the database too: ~75 ms each). Measured in the
# worker during 1,536 searches: 0.36 ms of collections per search, none at 20,000. Reference
# counting frees the rest as before; only cycles wait for a collection.
GC_THRESHOLD = (20_000, 10, 10)


def post_fork(server, worker):
    """Each worker collects garbage at GC_THRESHOLD."""
    gc.set_threshold(*GC_THRESHOLD)
