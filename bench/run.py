"""`make bench`: halls under load, on loopback, with one table of figures at the end.

For each dataset size: start gunicorn (embedded backend, or MongoDB when MONGO_URI is set),
load the generated data over HTTP, drive the endpoints from a separate load-generator process
(bench/loadgen.py), run the contention checks, read the server's peak memory, stop it.
Every figure goes to bench/results/<timestamp>.json as well. See bench/README.md.
"""

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the package from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import dataset
from bench.loader import CONTENTION_SLOTS, Loader, booking_body
from bench.server import ROOT, Server
from bench.wire import Client, request_spec

RESULTS = ROOT / "bench" / "results"
ACTIVE = ("pending", "confirmed")
ONE_SLOT_CLIENTS = 200
LOGIN_CONCURRENCY = 2
MIN_SAMPLES = 20  # a window is stretched (up to --max-duration) until this many answers
# Search and booking are measured once more in short windows alternating with /health
# (PAIRS rounds of PAIR_S seconds each side; quick: 3 of 1.5 s), and their ratio to /health is
# the median of the rounds' ratios: the two windows of a round are seconds apart, so a machine
# whose speed drifts or jumps during the run moves both sides of each ratio, and the median
# leaves out a round that a burst of other work on the machine took.
PAIRS = 5
PAIR_S = 3
SPREAD = {"bookings": 2000, "slots": 100, "clients": 50}
# Bookings per second no run here comes near: a window's request list is sized by it.
MAX_BOOKING_RATE = 800


def log(message):
    print(message, file=sys.stderr, flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--venues", type=int, nargs="+", help="dataset size(s); default 1000")
    parser.add_argument("--scaling", action="store_true", help="run 1000 and 10000 venues")
    parser.add_argument("--quick", action="store_true", help="200 venues, short phases")
    parser.add_argument(
        "--bookings",
        type=float,
        default=0.2,
        help="bookings loaded per venue (0.2: 2,000 at 10,000 venues; each costs a full scan "
        "of the claims on the embedded backend, so more makes the load slow)",
    )
    parser.add_argument("--duration", type=float, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds before each")
    parser.add_argument(
        "--max-duration", type=float, help="stretch a slow endpoint's window up to this (s)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="connections per endpoint")
    parser.add_argument("--customers", type=int, help="default 20 (quick: 8)")
    parser.add_argument("--owners", type=int, help="default 10 (quick: 3)")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=("endpoints", "contention"), help="phases to skip"
    )
    parser.add_argument("--keep-db", action="store_true", help="MongoDB: keep the bench database")
    args = parser.parse_args(argv)
    if args.scaling:
        args.venues = [1000, 10000]
    elif not args.venues:
        args.venues = [200] if args.quick else [1000]
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    # Every signup spends one bcrypt hash (about 1 s at the default 12 rounds here).
    args.customers = args.customers or (8 if args.quick else 20)
    args.owners = args.owners or (3 if args.quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    args.max_duration = args.max_duration or (8.0 if args.quick else 40.0)
    return args


def run_loadgen(spec):
    """Run bench/loadgen.py in its own process and return its result."""
    with tempfile.TemporaryDirectory() as folder:
        spec_path, out_path = Path(folder, "spec.json"), Path(folder, "out.json")
        spec_path.write_text(json.dumps(spec))
        limit = spec.get("hard_limit", 600) + 60
        command = [sys.executable, "-m", "bench.loadgen", str(spec_path), str(out_path)]
        subprocess.run(command, cwd=ROOT, check=True, timeout=limit)  # noqa: S603 - ours
        return json.loads(out_path.read_text())


def timed(
    server,
    requests,
    args,
    concurrency=None,
    once=False,
    min_duration=0,
    duration=None,
    warmup=None,
):
    """One endpoint under load, with the server's CPU time per request answered."""
    duration = max(duration or args.duration, min_duration)
    max_duration = max(duration, args.max_duration)
    server.wait_idle()
    cpu_before = server.cpu_seconds()
    result = run_loadgen(
        {
            "mode": "timed",
            "port": server.port,
            "requests": requests,
            "once": once,
            "concurrency": concurrency or args.concurrency,
            "warmup": args.warmup if warmup is None else warmup,
            "duration": duration,
            "max_duration": max_duration,
            "min_samples": MIN_SAMPLES,
            "hard_limit": args.warmup + max_duration + 30,
        }
    )
    # Abandoned in-flight requests finish on the server: count their CPU too.
    server.wait_idle()
    used = server.cpu_seconds() - cpu_before
    total = result["completed_total"] + result["still_running_at_end"]
    result["server_cpu_ms_per_request"] = round(1000 * used / total, 2) if total else None
    return result


def endpoint_phases(server, loaded, args, rand):
    """requests/s and latency of each endpoint; search's and booking's ratio to /health."""
    dates = loaded.dates
    searches = [
        request_spec("GET", f"/venues/search?{query}")
        for query in dataset.search_queries(rand, dates)
    ]
    availability = []
    for _ in range(500):
        venue = rand.choice(loaded.venues)
        date = rand.choice(venue["body"]["dates_available"] or dates)
        availability.append(request_spec("GET", f"/venues/{venue['id']}/availability?date={date}"))
    # Enough distinct free slots for the fastest booking rate we could plausibly see.
    bookings = booking_specs(loaded, rand, int(MAX_BOOKING_RATE * (args.warmup + args.duration)))
    customers = loaded.customers
    logins = [
        request_spec("POST", "/auth/login", {"email": c["email"], "password": dataset.PASSWORD})
        for c in customers
    ]
    phases = [
        ("health", [request_spec("GET", "/health")], {}),
        ("search", searches, {}),
        ("availability", availability, {}),
        ("booking", bookings, {"once": True}),
        # bcrypt checks take about a second each at the default 12 rounds and use a core:
        # a few connections and a longer window give a figure instead of a queue.
        ("login", logins, {"concurrency": LOGIN_CONCURRENCY, "min_duration": 6}),
    ]
    if not args.quick:
        # One client at a time: latency without queueing, for the scaling comparison.
        phases += [
            ("search_serial", searches, {"concurrency": 1}),
            ("availability_serial", availability, {"concurrency": 1}),
        ]
    results = {}
    for name, requests, options in phases:
        log(f"  {name} ...")
        results[name] = timed(server, requests, args, **options)
        if name == "search":
            # Before any booking phase: the pairs see the data the search window saw.
            log("  search, paired with /health ...")
            results[name]["paired"] = paired(server, lambda count: searches, args)
    # Last: the pairs' bookings must not change what the phases above measure.
    log("  booking, paired with /health ...")
    results["booking"]["paired"] = paired(
        server, lambda count: booking_specs(loaded, rand, count), args, once=True
    )
    return results


def booking_specs(loaded, rand, count):
    """POST /bookings of `count` free slots nobody has booked or been sent yet (loaded.booked
    grows with them), by the customers in turn; fewer if a small dataset has not that many."""
    free = sum(len(v["body"]["dates_available"]) * len(v["body"]["slots"]) for v in loaded.venues)
    count = min(count, int(0.6 * (free - len(loaded.booked))))
    picks = dataset.pick_free_slots(
        rand, [v["body"] for v in loaded.venues], loaded.dates, count, loaded.booked
    )
    customers = loaded.customers
    return [
        request_spec(
            "POST",
            "/bookings",
            booking_body(loaded.venues[index]["id"], date, slot),
            customers[n % len(customers)]["token"],
        )
        for n, (index, date, slot) in enumerate(picks)
    ]


def paired(server, requests, args, once=False):
    """The endpoint's throughput over /health's in PAIRS rounds of two short windows, one of
    each, their order alternating (requests(count): the endpoint's request list for a window,
    with `once` at least as many as it can answer). Answers the median ratio, each round's,
    and the endpoint's CPU per request."""
    rounds = 3 if args.quick else PAIRS
    length = PAIR_S / 2 if args.quick else PAIR_S
    warmup = min(args.warmup, 1.0)
    count = int(MAX_BOOKING_RATE * (warmup + length))
    health = [request_spec("GET", "/health")]
    ratios, cpu = [], []
    for n in range(rounds):
        windows = {}
        for side in ("health", "endpoint") if n % 2 == 0 else ("endpoint", "health"):
            windows[side] = timed(
                server,
                health if side == "health" else requests(count),
                args,
                once=once and side == "endpoint",
                duration=length,
                warmup=warmup,
            )
        endpoint, base = windows["endpoint"], windows["health"]
        ratios.append(round(endpoint["rps"] / base["rps"], 3) if base["rps"] else None)
        cpu.append(endpoint["server_cpu_ms_per_request"])
    measured = [ratio for ratio in ratios if ratio is not None]
    return {
        "median_ratio": statistics.median(measured) if measured else None,
        "ratios": ratios,
        "window_s": length,
        "server_cpu_ms_per_request": cpu,
    }


def contention(port, loaded, rand, spread_total, mongo=None):
    """200 clients on one slot; then 2,000 bookings over 100 slots by 50 clients; then check."""
    customers = loaded.customers
    venues = loaded.contention_venues
    dates = loaded.dates
    first = CONTENTION_SLOTS[0]["key"]
    target = booking_body(venues[0]["id"], dates[0], first)
    clients = [
        [request_spec("POST", "/bookings", target, customers[n % len(customers)]["token"])]
        for n in range(ONE_SLOT_CLIENTS)
    ]
    log("  contention: one slot ...")
    one = run_loadgen({"mode": "burst", "port": port, "clients": clients, "hard_limit": 300})
    one_ok = one["statuses"] == {"201": 1, "409": ONE_SLOT_CLIENTS - 1} and one["error_codes"] == {
        "slot_taken": ONE_SLOT_CLIENTS - 1
    }

    slots = [
        (venue["id"], date, slot["key"])
        for venue in venues
        for date in dates[1 : 1 + SPREAD["slots"] // (len(venues) * len(CONTENTION_SLOTS))]
        for slot in CONTENTION_SLOTS
    ][: SPREAD["slots"]]
    attempts = slots * (spread_total // len(slots))
    rand.shuffle(attempts)
    per_client = len(attempts) // SPREAD["clients"]
    clients = [
        [
            request_spec(
                "POST",
                "/bookings",
                booking_body(*attempt),
                customers[(c + i) % len(customers)]["token"],
                tag="|".join(attempt),
            )
            for i, attempt in enumerate(attempts[c * per_client : (c + 1) * per_client])
        ]
        for c in range(SPREAD["clients"])
    ]
    log("  contention: spread ...")
    spread = run_loadgen({"mode": "burst", "port": port, "clients": clients, "hard_limit": 600})
    made = {
        answer["body"]["data"]["booking"]["id"]: answer["tag"]
        for answer in spread.pop("answers")
        if answer["status"] == 201
    }
    one.pop("answers")
    check = check_no_double_claims(port, loaded, slots, target, made, mongo)
    spread_ok = (
        len(made) == len(slots)
        and set(made.values()) == {"|".join(s) for s in slots}
        and spread["statuses"] == {"201": len(slots), "409": len(attempts) - len(slots)}
        and check["double_claims"] == 0
        and check["ok"]
    )
    return {
        "one_slot": {**one, "passed": one_ok},
        "spread": {
            **spread,
            "slots": len(slots),
            "attempts": len(attempts),
            "successes": len(made),
            "check": check,
            "passed": spread_ok,
        },
    }


def check_no_double_claims(port, loaded, slots, one_target, made, mongo):
    """Count active bookings per (venue, date, slot) as the venues' owner sees them."""
    client = Client(port)
    token = loaded.contention_owner["token"]
    per_slot = {}
    active_ids = set()
    for venue in loaded.contention_venues:
        page = 1
        while True:
            status, envelope = client.call(
                "GET", f"/bookings?venue_id={venue['id']}&limit=100&page={page}", token=token
            )
            if status != 200:
                raise RuntimeError(f"GET /bookings answered {status}: {envelope}")
            items = envelope["data"]["items"]
            for booking in items:
                if booking["status"] not in ACTIVE:
                    continue
                active_ids.add(booking["id"])
                for slot in booking.get("slots") or [booking["slot"]]:
                    key = (booking["venue_id"], booking["date"], slot)
                    per_slot[key] = per_slot.get(key, 0) + 1
            if page * 100 >= envelope["data"]["total"]:
                break
            page += 1
    # Availability must agree: every contended slot reads as taken.
    not_taken = 0
    for venue_id, date, slot in slots:
        status, envelope = client.call("GET", f"/venues/{venue_id}/availability?date={date}")
        day = envelope["data"]
        reason = next(s["reason"] for s in day["slots"] if s["key"] == slot)
        not_taken += reason != "slot_taken"
    client.close()
    one_key = (one_target["venue_id"], one_target["date"], one_target["slot"])
    expected = {tuple(s) for s in slots} | {one_key}
    result = {
        "active_bookings": len(active_ids),
        "double_claims": sum(1 for n in per_slot.values() if n > 1),
        "slots_without_booking": len(expected - set(per_slot)),
        "successes_missing_in_db": len(set(made) - active_ids),
        "availability_not_taken": not_taken,
    }
    if mongo is not None:
        result["mongodb"] = mongo.check([v["id"] for v in loaded.contention_venues])
    result["ok"] = (
        result["double_claims"] == 0
        and result["slots_without_booking"] == 0
        and result["successes_missing_in_db"] == 0
        and result["availability_not_taken"] == 0
        and result["active_bookings"] == len(expected)
        and (mongo is None or result["mongodb"]["ok"])
    )
    return result


class MongoCheck:
    """With MONGO_URI: the bench database, checked directly and dropped afterwards."""

    def __init__(self, uri, name):
        from pymongo import MongoClient

        self.client = MongoClient(uri, serverSelectionTimeoutMS=5000, tz_aware=True)
        self.name = name

    def check(self, venue_ids):
        from bson import ObjectId

        db = self.client[self.name]
        ids = [ObjectId(v) for v in venue_ids]
        bookings = list(
            db.bookings.aggregate(
                [
                    {"$match": {"venue_id": {"$in": ids}, "status": {"$in": list(ACTIVE)}}},
                    {
                        "$project": {
                            "venue_id": 1,
                            "date": 1,
                            "s": {"$ifNull": ["$slots", ["$slot"]]},
                        }
                    },
                    {"$unwind": "$s"},
                    {
                        "$group": {
                            "_id": {"v": "$venue_id", "d": "$date", "s": "$s"},
                            "n": {"$sum": 1},
                        }
                    },
                    {"$match": {"n": {"$gt": 1}}},
                ]
            )
        )
        held = list(db.slot_claims.find({"venue_id": {"$in": ids}, "state": "taken"}))
        active = {
            b["_id"]
            for b in db.bookings.find(
                {"venue_id": {"$in": ids}, "status": {"$in": list(ACTIVE)}}, {"_id": 1}
            )
        }
        orphans = [c for c in held if c.get("booking_id") not in active]
        return {
            "double_booked_slots": len(bookings),
            "held_claims": len(held),
            "claims_without_active_booking": len(orphans),
            "ok": not bookings and not orphans,
        }

    def drop(self):
        self.client.drop_database(self.name)
        self.client.close()


def run_size(venues, args, stamp):
    rand = dataset.rng(args.seed + venues)
    mongo_uri = os.environ.get("MONGO_URI") or None
    db_name = f"halls_bench_{stamp.replace('-', '').replace(':', '')}_{venues}"
    mongo = MongoCheck(mongo_uri, db_name) if mongo_uri else None
    server = Server(RESULTS / f"{stamp}-server-{venues}.log", mongo_uri, db_name)
    log(f"{venues} venues: starting gunicorn ({'MongoDB' if mongo_uri else 'embedded'}) ...")
    server.start()
    try:
        loader = Loader(server.port, args.seed + venues, log=log)
        loaded = loader.load(
            venues, int(venues * args.bookings), owners=args.owners, customers=args.customers
        )
        run = {
            "venues": venues,
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
            "bookings_loaded": len(loaded.booked),
            "load_seconds": loaded.timings,
        }
        if "endpoints" not in args.skip:
            run["endpoints"] = endpoint_phases(server, loaded, args, rand)
        if "contention" not in args.skip:
            server.wait_idle()
            spread = SPREAD["bookings"] // 2 if args.quick else SPREAD["bookings"]
            run["contention"] = contention(server.port, loaded, rand, spread, mongo)
        run["memory"] = server.memory()
        run["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        return run
    finally:
        server.stop()
        if mongo is not None and not args.keep_db:
            mongo.drop()


def _git(*command):
    try:
        out = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", *command],  # noqa: S607 - git from PATH
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def environment(args):
    return {
        "command": " ".join(["bench/run.py", *sys.argv[1:]]),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes_in_halls": bool(_git("status", "--porcelain", "--", "halls")),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "backend": "mongodb" if os.environ.get("MONGO_URI") else "embedded",
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "bookings_per_venue": args.bookings,
        "seed": args.seed,
    }


def _stop_on_sigterm(signum, frame):
    # SystemExit unwinds through run_size's finally, which stops gunicorn.
    raise SystemExit(128 + signum)


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    started = time.perf_counter()
    report = {"started_at": stamp, "environment": environment(args), "runs": []}
    for venues in args.venues:
        report["runs"].append(run_size(venues, args, stamp))
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    from bench.report import render

    print(render(report))
    print(f"\nwritten to {path.relative_to(ROOT)}")
    failed = [
        name
        for run in report["runs"]
        for name, part in run.get("contention", {}).items()
        if not part["passed"]
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
