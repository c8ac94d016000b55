"""Cost per request counted, not timed: CPU instructions under callgrind (valgrind).

`python -m bench.instructions search|availability|booking|health [--requests 50]` builds the
dataset of bench/profile.py in-process (1,000 venues, 200 bookings, seed 3025), saves it,
then runs a second Python under `valgrind --tool=callgrind` that loads it into a fresh app,
sends the requests twice (a warm-up, then the counted ones, with callgrind's counters zeroed
before and dumped after) and prints the instructions per counted request. The same code
gives the same count to about 0.2 %, whatever else the machine is doing, so two versions
compare even where timings drift. Needs valgrind (`apt-get install valgrind`); slow: about a
minute for 50 searches.
"""

import argparse
import functools
import gc
import logging
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the package from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import dataset
from bench import profile as harness
from bench.loader import GUESTS

ROOT = Path(__file__).resolve().parent.parent
SEED = 3025  # the seed bench/run.py gives its 1,000-venue dataset
PATHS = ("search", "availability", "booking", "health")


def build(path, venues, bookings):
    """Load the dataset through the API in-process and save every collection to `path`."""
    logging.disable(logging.CRITICAL)  # the app's line per request
    app = harness.build_app(SEED)
    client = app.test_client()
    rand = dataset.rng(SEED)
    dates, bodies, ids, customers, taken = harness.load(client, rand, venues, bookings)
    database = app.config["DATABASE"]
    state = {name: list(database[name].find({})) for name in database.list_collection_names()}
    saved = {"state": state, "dates": dates, "bodies": bodies, "ids": ids}
    saved.update(customers=customers, taken=taken)
    Path(path).write_bytes(pickle.dumps(saved))


def requests(client, saved, what, count):
    """`count` request callables of one kind, from the saved dataset (a fixed random order)."""
    rand = dataset.rng(7)
    if what == "search":
        queries = dataset.search_queries(rand, saved["dates"], 200)
        return [functools.partial(client.get, f"/venues/search?{q}") for q in queries * 2][:count]
    if what == "availability":
        days = []
        for _ in range(count):
            venue = rand.randrange(len(saved["ids"]))
            days.append(
                f"/venues/{saved['ids'][venue]}/availability?date={rand.choice(saved['dates'])}"
            )
        return [functools.partial(client.get, url) for url in days]
    if what == "booking":
        picks = dataset.pick_free_slots(
            rand, saved["bodies"], saved["dates"], count, set(saved["taken"])
        )
        customers = saved["customers"]
        bodies = [
            {"venue_id": saved["ids"][index], "date": date, "slot": slot, "guests": GUESTS}
            for index, date, slot in picks
        ]
        return [
            functools.partial(
                client.post, "/bookings", json=body, headers=customers[n % len(customers)]
            )
            for n, body in enumerate(bodies)
        ]
    return [functools.partial(client.get, "/health")] * count


def measure(path, what, count):
    """Inside callgrind: load the saved dataset, warm up, then count `count` requests."""
    logging.disable(logging.CRITICAL)
    app = harness.build_app(SEED)  # its client is the taught mongomock (embedded.new_client)
    client = app.test_client()
    database = app.config["DATABASE"]
    saved = pickle.loads(Path(path).read_bytes())  # noqa: S301 - written by build() just now
    for name, documents in saved["state"].items():
        if documents:
            database[name].insert_many(documents)
    sends = requests(client, saved, what, 2 * count)
    gc.set_threshold(20_000, 10, 10)  # as gunicorn.conf.py's workers
    gc.freeze()
    for send in sends[:count]:
        _checked(send())
    _callgrind("-z")  # counters to zero
    for send in sends[count:]:
        _checked(send())
    _callgrind("-d")  # dump what the counted requests cost


def _checked(response):
    if response.status_code not in (200, 201):
        raise RuntimeError(f"{response.status_code}: {response.get_data(as_text=True)[:300]}")


def _callgrind(option):
    command = ["callgrind_control", option, str(os.getpid())]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603, S607 - fixed arguments


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="bench/instructions.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("path", choices=PATHS)
    parser.add_argument("--requests", type=int, default=50, help="counted (as many warm up)")
    parser.add_argument("--venues", type=int, default=1000)
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--inner", help=argparse.SUPPRESS)  # the run under callgrind
    args = parser.parse_args(argv)
    if args.inner:
        measure(args.inner, args.path, args.requests)
        return 0
    if not shutil.which("valgrind"):
        print("bench/instructions.py needs valgrind: apt-get install valgrind", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder, "dataset.pickle")
        build(data, args.venues, args.bookings)
        out = Path(folder, "callgrind.out")
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
            "--dump-instr=no", "--collect-systime=no",
            sys.executable, "-m", "bench.instructions", args.path,
            "--requests", str(args.requests), "--inner", str(data),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0"}  # set and dict orders alike every run
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603
        (dump,) = Path(folder).glob("callgrind.out.*.1")  # the dump after the counted requests
        total = next(
            int(line.split()[1])
            for line in dump.read_text().splitlines()
            if line.startswith(("summary:", "totals:"))
        )
    print(f"{args.path}: {total / args.requests / 1e6:.3f} M instructions per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
