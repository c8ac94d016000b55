"""Profile the hot paths in-process: search, availability and booking, with pyinstrument.

`python -m bench.profile [--venues 1000]` builds an app on a fresh embedded database, loads the
generated dataset through the Flask test client, then runs each hot path under pyinstrument and
counts the database calls each request makes. Reports go to bench/results/profile-<stamp>-*:
a call tree (.txt), the functions by own time (-flat.txt), an HTML view, and a summary (.json).
Needs requirements-bench.txt (pyinstrument).
"""

import argparse
import collections
import datetime as dt
import functools
import json
import logging
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the package from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import mongomock
from pyinstrument import Profiler

from bench import dataset
from bench.loader import GUESTS
from halls import create_app, embedded

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# The collection calls that reach the database (wrapped to count them per request).
DB_CALLS = (
    "find",
    "find_one",
    "aggregate",
    "count_documents",
    "insert_one",
    "insert_many",
    "update_one",
    "update_many",
    "delete_one",
    "find_one_and_update",
)


class CallCounter:
    """Counts mongomock collection calls, by collection and method, while enabled."""

    def __init__(self):
        self.counts = collections.Counter()
        self.enabled = False
        self.depth = 0  # mongomock calls itself (aggregate -> find): count the outer call only

    def install(self):
        for name in DB_CALLS:
            original = getattr(mongomock.Collection, name)
            setattr(mongomock.Collection, name, self._wrap(original, name))

    def _wrap(self, original, name):
        @functools.wraps(original)
        def counted(collection, *args, **kwargs):
            if self.enabled and self.depth == 0:
                self.counts[f"{collection.name}.{name}"] += 1
            self.depth += 1
            try:
                return original(collection, *args, **kwargs)
            finally:
                self.depth -= 1

        return counted


def build_app(seed):
    config = {
        "TESTING": True,
        "RATELIMIT_ENABLED": False,
        "BCRYPT_ROUNDS": 4,  # signups are set-up here, not what is profiled
        "HALLS_DEMO_DATA": False,
        "MONGO_URI": None,
        "DATABASE": embedded.new_client()[f"halls_profile_{seed}"],
    }
    return create_app(config)


def ok(response, status):
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.path} answered {response.status_code}: "
            f"{response.get_data(as_text=True)[:500]}"
        )
    return response.get_json()["data"]


def signup(client, email, owner):
    body = {"email": email, "password": dataset.PASSWORD, "is_venue_owner": owner}
    data = ok(client.post("/auth/signup", json=body), 201)
    return {"Authorization": f"Bearer {data['access_token']}"}


def load(client, rand, venues, bookings):
    dates = dataset.bench_dates()
    owners = [signup(client, f"owner{i}@bench.halls", True) for i in range(5)]
    customers = [signup(client, f"customer{i}@bench.halls", False) for i in range(5)]
    bodies = [dataset.venue_body(rand, i, dates) for i in range(venues)]
    ids = []
    for i, body in enumerate(bodies):
        data = ok(client.post("/venues/register", json=body, headers=owners[i % 5]), 201)
        ids.append(data["venue"]["id"])
    taken = set()
    for n, (index, date, slot) in enumerate(
        dataset.pick_free_slots(rand, bodies, dates, bookings, taken)
    ):
        body = {"venue_id": ids[index], "date": date, "slot": slot, "guests": GUESTS}
        ok(client.post("/bookings", json=body, headers=customers[n % 5]), 201)
    return dates, bodies, ids, customers, taken


def profile_path(name, requests, counter, stamp, interval):
    """Run the requests under pyinstrument; write the reports; return the summary."""
    counter.counts.clear()
    profiler = Profiler(interval=interval)
    counter.enabled = True
    started = time.perf_counter()
    profiler.start()
    statuses = collections.Counter(send().status_code for send in requests)
    profiler.stop()
    elapsed = time.perf_counter() - started
    counter.enabled = False
    base = RESULTS / f"profile-{stamp}-{name}"
    Path(f"{base}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
    Path(f"{base}-flat.txt").write_text(profiler.output_text(unicode=True, flat=True))
    Path(f"{base}.html").write_text(profiler.output_html())
    per_request = {
        call: round(count / len(requests), 2) for call, count in counter.counts.most_common()
    }
    return {
        "requests": len(requests),
        "statuses": {str(k): v for k, v in statuses.items()},
        "mean_ms_under_profiler": round(1000 * elapsed / len(requests), 2),
        "db_calls_per_request": per_request,
        "reports": [f"{base.name}{suffix}" for suffix in (".txt", "-flat.txt", ".html")],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="bench/profile.py", description=__doc__.split("\n")[0])
    parser.add_argument("--venues", type=int, default=1000)
    parser.add_argument("--bookings", type=float, default=0.2, help="loaded per venue")
    parser.add_argument("--requests", type=int, default=100, help="per hot path but search")
    parser.add_argument("--search-requests", type=int, default=20, help="search is slow")
    parser.add_argument("--interval", type=float, default=0.0005, help="sampling interval (s)")
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    rand = dataset.rng(args.seed)
    # The app logs one JSON line per request: to a file, not over the report.
    logging.basicConfig(filename=RESULTS / f"profile-{stamp}.log", level=logging.INFO)
    counter = CallCounter()
    # First: the counter wraps what teaching installs, so that a call the taught code makes
    # inside another (find_one_and_update's find_one) is not counted as a call of its own.
    embedded.teach()
    counter.install()
    app = build_app(args.seed)
    client = app.test_client()
    started = time.perf_counter()
    dates, bodies, ids, customers, taken = load(
        client, rand, args.venues, int(args.venues * args.bookings)
    )
    print(f"loaded {args.venues} venues and bookings in {time.perf_counter() - started:.1f} s")

    count = args.requests
    queries = dataset.search_queries(rand, dates, args.search_requests)
    searches = [f"/venues/search?{query}" for query in queries]
    days = []
    for _ in range(count):
        index = rand.randrange(len(ids))
        days.append(f"/venues/{ids[index]}/availability?date={rand.choice(dates)}")
    picks = dataset.pick_free_slots(rand, bodies, dates, count, taken)
    books = [
        (
            {"venue_id": ids[index], "date": date, "slot": slot, "guests": GUESTS},
            customers[n % len(customers)],
        )
        for n, (index, date, slot) in enumerate(picks)
    ]
    paths = {
        "search": [functools.partial(client.get, url) for url in searches],
        "availability": [functools.partial(client.get, url) for url in days],
        "booking": [
            functools.partial(client.post, "/bookings", json=body, headers=headers)
            for body, headers in books
        ],
        "health": [functools.partial(client.get, "/health") for _ in range(count)],
    }
    summary = {"venues": args.venues, "stamp": stamp, "paths": {}}
    for name, requests in paths.items():
        summary["paths"][name] = profile_path(name, requests, counter, stamp, args.interval)
        result = summary["paths"][name]
        print(
            f"{name:13} {result['mean_ms_under_profiler']:8.2f} ms/request  "
            f"statuses {result['statuses']}  db calls/request {result['db_calls_per_request']}"
        )
    out = RESULTS / f"profile-{stamp}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"reports in {RESULTS.relative_to(ROOT)}/profile-{stamp}-*")


if __name__ == "__main__":
    main()
