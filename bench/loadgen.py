"""The load generator: a separate process that drives the server on loopback.

`python -m bench.loadgen SPEC.json OUT.json`. The spec is written by bench/run.py:

- mode "timed": `concurrency` threads, each on its own keep-alive connection, send the
  `requests` (cycled, or each used once with `"once": true`) for `warmup` + `duration`
  seconds (or until `max_requests`); figures cover the requests that finished after the warm-up.
- mode "burst": one thread per entry of `clients` (a list of request lists). Every thread opens
  its connection first, then all wait at a barrier and send their requests back to back; the
  figure is the time from the release until the last answer, and every answer is returned.

Every run is bounded by its request list or its duration, and by `hard_limit` seconds.
"""

import itertools
import json
import resource
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the package from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.wire import Client, error_code


def percentile(sorted_values, fraction):
    """The nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarise(latencies, statuses, codes, window):
    """requests/s and latency percentiles (ms) of one measured window."""
    latencies = sorted(latencies)
    count = len(latencies)
    return {
        "requests": count,
        "seconds": round(window, 3),
        "rps": round(count / window, 1) if window > 0 else None,
        "p50_ms": _ms(percentile(latencies, 0.50)),
        "p95_ms": _ms(percentile(latencies, 0.95)),
        "p99_ms": _ms(percentile(latencies, 0.99)),
        "max_ms": _ms(latencies[-1] if latencies else None),
        "mean_ms": _ms(sum(latencies) / count if count else None),
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "error_codes": dict(sorted(codes.items())),
    }


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 2)


def _encode(spec):
    body = spec.get("body")
    return (
        spec["method"],
        spec["path"],
        body.encode() if body is not None else None,
        spec["headers"],
    )


def _cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_timed(spec):
    """Drive the server with `concurrency` connections; measure after the warm-up.

    The window lasts `duration` seconds, longer (up to `max_duration`) while fewer than
    `min_samples` requests have finished in it, so a slow endpoint still gets a figure. Every
    request that finishes inside the window counts, whenever it started (closed-loop load).
    """
    requests = [_encode(item) for item in spec["requests"]]
    feed = iter(requests) if spec.get("once") else itertools.cycle(requests)
    feed_lock = threading.Lock()
    max_requests = spec.get("max_requests") or float("inf")
    sent = itertools.count()
    lock = threading.Lock()
    latencies, statuses, codes = [], {}, {}
    errors = []
    completed = [0]  # every answer, warm-up included (server CPU per request uses it)
    started = time.perf_counter()
    measure_from = started + spec["warmup"]
    min_end = measure_from + spec["duration"]
    max_end = measure_from + max(spec["duration"], spec.get("max_duration", 0))
    min_samples = spec.get("min_samples", 0)
    stop = threading.Event()
    window = {}

    ran_out = []

    def next_request():
        with feed_lock:
            item = next(feed, None) if next(sent) < max_requests else None
            if item is None:
                ran_out.append(True)
            return item

    def worker():
        client = Client(spec["port"])
        try:
            while not stop.is_set():
                item = next_request()
                if item is None:
                    return
                method, path, body, headers = item
                began = time.perf_counter()
                try:
                    status, data = client.raw(method, path, body, headers)
                except OSError as error:
                    with lock:
                        errors.append(repr(error))
                    client.close()
                    continue
                ended = time.perf_counter()
                code = error_code(data) if status >= 400 else None
                with lock:
                    completed[0] += 1
                    if ended < measure_from or stop.is_set():
                        continue
                    latencies.append(ended - began)
                    statuses[status] = statuses.get(status, 0) + 1
                    if code:
                        codes[code] = codes.get(code, 0) + 1
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(spec["concurrency"])]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu_start = _cpu()
    while True:
        now = time.perf_counter()
        alive = any(thread.is_alive() for thread in threads)
        with lock:
            enough = len(latencies) >= min_samples
        if not alive or now >= max_end or (now >= min_end and enough):
            with lock:
                stop.set()
                window["end"] = min(now, max_end)
            cpu_used = _cpu() - cpu_start
            break
        time.sleep(0.02)
    # Requests still in flight are abandoned (daemon threads); bench/run.py waits for the
    # server to go idle before the next phase.
    drain_until = time.perf_counter() + spec.get("drain_seconds", 5)
    for thread in threads:
        thread.join(timeout=max(0.0, drain_until - time.perf_counter()))
    length = window["end"] - measure_from
    result = summarise(latencies, statuses, codes, length)
    result["client_cpu_pct"] = round(100 * cpu_used / length, 1) if length > 0 else None
    result["concurrency"] = spec["concurrency"]
    result["completed_total"] = completed[0]
    result["transport_errors"] = len(errors)
    result["ran_out_of_requests"] = bool(ran_out)
    result["still_running_at_end"] = sum(thread.is_alive() for thread in threads)
    return result


def run_burst(spec):
    """All clients connect, then start together; every answer is recorded."""
    clients = spec["clients"]
    barrier = threading.Barrier(len(clients) + 1)
    lock = threading.Lock()
    answers = []
    finished_at = []

    def worker(requests):
        client = Client(spec["port"])
        try:
            client.raw("GET", "/health")  # the connection is open before the start signal
            barrier.wait()
            for item in requests:
                method, path, body, headers = _encode(item)
                began = time.perf_counter()
                try:
                    status, data = client.raw(method, path, body, headers)
                except OSError as error:
                    status, data = None, repr(error).encode()
                ended = time.perf_counter()
                with lock:
                    answers.append(
                        {
                            "tag": item.get("tag"),
                            "status": status,
                            "code": error_code(data) if status and status >= 400 else None,
                            "body": _body_if_created(status, data),
                            "latency": ended - began,
                        }
                    )
        finally:
            with lock:
                finished_at.append(time.perf_counter())
            client.close()

    threads = [threading.Thread(target=worker, args=(r,), daemon=True) for r in clients]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=120)
    released = time.perf_counter()
    hard_stop = released + spec.get("hard_limit", 300)
    for thread in threads:
        thread.join(max(0.0, hard_stop - time.perf_counter()))
    statuses, codes = {}, {}
    for answer in answers:
        statuses[answer["status"]] = statuses.get(answer["status"], 0) + 1
        if answer["code"]:
            codes[answer["code"]] = codes.get(answer["code"], 0) + 1
    last = max(finished_at) if finished_at else time.perf_counter()
    result = summarise([a["latency"] for a in answers], statuses, codes, last - released)
    result["clients"] = len(clients)
    result["all_answered_ms"] = round((last - released) * 1000, 2)
    result["unfinished_clients"] = sum(thread.is_alive() for thread in threads)
    result["answers"] = [{k: v for k, v in a.items() if k != "latency"} for a in answers]
    return result


def _body_if_created(status, data):
    # Only successes are kept whole: the caller checks which booking each one made.
    if status != 201:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def main(argv):
    spec = json.loads(Path(argv[1]).read_text())
    result = run_burst(spec) if spec["mode"] == "burst" else run_timed(spec)
    Path(argv[2]).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
