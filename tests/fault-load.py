#!/usr/bin/env python3
"""Load, checks and verification for tests/faults.sh (Python 3 standard library only).

  load     writers (POST /api/movies, then POST /api/watchlist of that movie) and readers
           (GET /api/movies/{id} of warm ids) through the gateway until a stop file appears;
           one JSON line per request in the log (start, end, kind, status, id, detail).
  check    reads a phase's log and fails on what the phase forbids: a status outside the
           allowed set (inside the fault window) or not 2xx (outside it), a 502 that a retry
           should have avoided, an answer slower than its bound, a late recovery.
  verify   every acknowledged write of every log is read back through the API, paging
           through the lists.
  wait-health  waits until a /health answers 200 (and optionally a JSON field has a value).

Every wait is bounded; every socket has a timeout.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time

TIMEOUT = 15.0  # seconds: no request of the suite may take longer; longer is a hang


def connect(host, port):
    return http.client.HTTPConnection(host, port, timeout=TIMEOUT)


def request(conn, method, path, body=None):
    """Returns (status, headers dict lower-case, body bytes); status 0 on a transport error."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


class Client:
    """One keep-alive connection that reconnects after a transport error."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conn = None

    def call(self, method, path, body=None):
        if self.conn is None:
            self.conn = connect(self.host, self.port)
        try:
            status, headers, payload = request(self.conn, method, path, body)
            if headers.get("connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return status, headers, payload, None
        except (OSError, http.client.HTTPException) as error:
            self.conn.close()
            self.conn = None
            return 0, {}, b"", type(error).__name__ + ": " + str(error)


def detail_of(payload):
    try:
        detail = json.loads(payload).get("detail")
        return detail if isinstance(detail, str) else json.dumps(detail)
    except (ValueError, AttributeError):
        return payload[:120].decode("utf-8", "replace")


# ------------------------------------------------------------------------------------ load


def run_load(args):
    host, port = args.host, args.port
    stop_file = args.stop
    log = open(args.log, "w", buffering=1)
    lock = threading.Lock()
    deadline = time.time() + args.max_seconds
    users = [int(u) for u in args.users.split(",")]

    def write_line(record):
        with lock:
            log.write(json.dumps(record) + "\n")

    def stopped():
        return os.path.exists(stop_file) or time.time() > deadline

    def writer(index):
        client = Client(host, port)
        user = users[index % len(users)]
        sequence = 0
        while not stopped():
            sequence += 1
            title = "fault-%s-w%d-%d" % (args.phase, index, sequence)
            movie = {"title": title, "director": "Fault Suite", "year": 2000 + sequence % 100,
                     "genre": "FaultTest", "rating": 5.0}
            start = time.time()
            status, headers, payload, error = client.call("POST", "/api/movies", movie)
            end = time.time()
            record = {"kind": "movie", "start": start, "end": end, "status": status, "title": title}
            movie_id = None
            if status == 201:
                movie_id = json.loads(payload)["id"]
                record["id"] = movie_id
            else:
                record["detail"] = error or detail_of(payload)
                record["retry_after"] = headers.get("retry-after")
            write_line(record)
            if movie_id is None:
                time.sleep(args.pause_after_error)
                continue
            start = time.time()
            status, headers, payload, error = client.call(
                "POST", "/api/watchlist", {"user_id": user, "movie_id": movie_id})
            end = time.time()
            record = {"kind": "watchlist", "start": start, "end": end, "status": status,
                      "user": user, "movie": movie_id}
            if status == 201:
                record["id"] = json.loads(payload)["id"]
            else:
                record["detail"] = error or detail_of(payload)
                record["retry_after"] = headers.get("retry-after")
            write_line(record)
            if status != 201:
                time.sleep(args.pause_after_error)

    def reader(index):
        client = Client(host, port)
        low, high = [int(x) for x in args.read_ids.split("-")]
        while not stopped():
            movie_id = random.randint(low, high)
            start = time.time()
            status, headers, payload, error = client.call("GET", "/api/movies/%d" % movie_id)
            end = time.time()
            record = {"kind": "read", "start": start, "end": end, "status": status, "id": movie_id,
                      "cache": headers.get("x-cache")}
            if status != 200:
                record["detail"] = error or detail_of(payload)
            write_line(record)
            if status != 200:
                time.sleep(args.pause_after_error)
            elif args.read_pause > 0:
                time.sleep(args.read_pause)

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(args.writers)]
    threads += [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(args.readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.max_seconds + TIMEOUT + 5)
    log.close()
    return 0


# ------------------------------------------------------------------------------------ check


def load_log(path):
    records = []
    with open(path) as source:
        for line in source:
            line = line.strip()
            if line:
                records.append(json.loads(line))
    return records


def run_check(args):
    records = load_log(args.log)
    allowed = set(int(s) for s in args.allowed.split(",") if s) if args.allowed else set()
    fault_from = args.fault_from
    fault_to = args.fault_to
    problems = []
    counts = {}
    details = {}
    for record in records:
        key = "%s %d" % (record["kind"], record["status"])
        counts[key] = counts.get(key, 0) + 1
        if record["status"] not in (200, 201):
            detail_key = "%d %s" % (record["status"], (record.get("detail") or "")[:70])
            details[detail_key] = details.get(detail_key, 0) + 1
    latencies = sorted(r["end"] - r["start"] for r in records)
    slowest = max(records, key=lambda r: r["end"] - r["start"]) if records else None

    def in_window(record):
        if fault_from is None:
            return False
        return record["end"] >= fault_from and (fault_to is None or record["start"] <= fault_to)

    def in_flight_at(record, instant):
        # Sent before the gateway could see the death (its reset arrives as an event): a POST
        # on that connection may have reached the process, so it is not retried.
        return instant is not None and record["start"] <= instant + 0.1 and instant <= record["end"]

    for record in records:
        status = record["status"]
        if status in (200, 201):
            continue
        what = "%s %s at +%.3fs: %d %s" % (
            record["kind"], record.get("title", record.get("id", "")), record["start"] - (fault_from or 0),
            status, (record.get("detail") or "")[:100])
        if status == 502 and in_flight_at(record, args.in_flight_502_at):
            continue  # sent to the instance that was killed under it: its outcome is unknown
        if status == 503 and args.allow_503_retry_after and record.get("retry_after"):
            continue
        if in_window(record) and status in allowed:
            names = [name.strip().lower() for name in (args.dependency or "").split(",") if name.strip()]
            detail = (record.get("detail") or "").lower()
            if names and not any(name in detail for name in names) and record["kind"] != "watchlist":
                problems.append("does not name the dependency (%s): %s" % (args.dependency, what))
            continue
        problems.append(("a 502 that a retry or a queue should have avoided: " if status == 502 else "failed: ") + what)
    if args.max_latency is not None and slowest is not None:
        for record in records:
            elapsed = record["end"] - record["start"]
            if elapsed > args.max_latency:
                problems.append("answered after %.3fs (bound %.1fs): %s %d" % (
                    elapsed, args.max_latency, record["kind"], record["status"]))
    recovery = None
    if args.recover_after is not None:
        later = [r for r in records if r["kind"] == "movie" and r["status"] == 201 and r["start"] >= args.recover_after - 0.5
                 and r["end"] >= args.recover_after]
        if not later:
            problems.append("no write succeeded after the recovery point")
        else:
            recovery = min(r["end"] for r in later) - args.recover_after
            if args.recover_bound is not None and recovery > args.recover_bound:
                problems.append("writes came back %.3fs after the dependency accepted connections (bound %.2fs)" % (
                    recovery, args.recover_bound))
    writes = [r for r in records if r["kind"] in ("movie", "watchlist")]
    summary = {
        "phase": args.name,
        "requests": len(records),
        "acknowledged_writes": sum(1 for r in writes if r["status"] == 201),
        "statuses": counts,
        "non_2xx_details": dict(sorted(details.items(), key=lambda kv: -kv[1])[:6]),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1) if latencies else None,
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
    }
    if recovery is not None:
        summary["writes_back_after_s"] = round(recovery, 3)
    print("    " + json.dumps(summary))
    if not records:
        problems.append("the load made no request")
    for problem in problems[:15]:
        print("    problem: " + problem)
    if len(problems) > 15:
        print("    ... and %d more problems" % (len(problems) - 15))
    return 1 if problems else 0


# ------------------------------------------------------------------------------------ verify


def run_verify(args):
    client = Client(args.host, args.port)
    movies = {}
    entries = {}
    for path in args.logs:
        for record in load_log(path):
            if record["status"] != 201:
                continue
            if record["kind"] == "movie":
                movies[record["id"]] = record["title"]
            elif record["kind"] == "watchlist":
                entries[record["id"]] = (record["user"], record["movie"])

    def page_through(path):
        items, offset = [], 0
        while True:
            status, headers, payload, error = client.call("GET", "%s%slimit=1000&offset=%d" % (
                path, "&" if "?" in path else "?", offset))
            if status != 200:
                raise RuntimeError("GET %s offset %d: %d %s" % (path, offset, status, error or payload[:200]))
            page = json.loads(payload)
            items.extend(page)
            total = int(headers.get("x-total-count", "0"))
            offset += len(page)
            if not page or offset >= total:
                return items

    problems = []
    listed = {m["id"]: m["title"] for m in page_through("/api/movies")}
    for movie_id, title in movies.items():
        if listed.get(movie_id) != title:
            problems.append("movie %d (%s) acknowledged but %s" % (
                movie_id, title, "missing" if movie_id not in listed else "has title %r" % listed[movie_id]))
    for user in sorted(set(u for u, _ in entries.values())):
        found = {e["id"]: e["movie_id"] for e in page_through("/api/watchlist/user/%d" % user)}
        for entry_id, (entry_user, movie) in entries.items():
            if entry_user == user and found.get(entry_id) != movie:
                problems.append("watchlist entry %d (user %d, movie %d) acknowledged but missing" % (
                    entry_id, user, movie))
    print("    verified %d acknowledged movies and %d watchlist entries through the API (%d movies listed)" % (
        len(movies), len(entries), len(listed)))
    for problem in problems[:20]:
        print("    LOST: " + problem)
    return 1 if problems or not movies else 0


# ------------------------------------------------------------------------------------ health


def run_wait_health(args):
    deadline = time.time() + args.timeout
    last = None
    while time.time() < deadline:
        client = Client(args.host, args.port)
        status, headers, payload, error = client.call("GET", args.path)
        last = "%d %s" % (status, error or payload[:200].decode("utf-8", "replace"))
        if status == 200:
            if not args.field:
                return 0
            try:
                checks = json.loads(payload).get("checks", {})
            except ValueError:
                checks = {}
            if checks.get(args.field) == args.value:
                return 0
        time.sleep(0.05)
    print("    %s:%d%s not as expected within %.0fs; last answer: %s" % (args.host, args.port, args.path, args.timeout, last))
    return 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    load = sub.add_parser("load")
    load.add_argument("--host", default="127.0.0.1")
    load.add_argument("--port", type=int, required=True)
    load.add_argument("--phase", required=True)
    load.add_argument("--log", required=True)
    load.add_argument("--stop", required=True, help="stop once this file exists")
    load.add_argument("--max-seconds", type=float, default=120)
    load.add_argument("--writers", type=int, default=4)
    load.add_argument("--readers", type=int, default=1)
    load.add_argument("--users", required=True, help="comma-separated user ids for the watchlist adds")
    load.add_argument("--read-ids", required=True, help="LOW-HIGH: movie ids the readers ask for")
    load.add_argument("--pause-after-error", type=float, default=0.01)
    load.add_argument("--read-pause", type=float, default=0.0)

    check = sub.add_parser("check")
    check.add_argument("--name", required=True)
    check.add_argument("--log", required=True)
    check.add_argument("--allowed", default="", help="statuses allowed inside the fault window")
    check.add_argument("--fault-from", type=float)
    check.add_argument("--fault-to", type=float)
    check.add_argument("--dependency", help="a failure inside the window must name one of these (comma-separated)")
    check.add_argument("--max-latency", type=float)
    check.add_argument("--recover-after", type=float)
    check.add_argument("--recover-bound", type=float)
    check.add_argument("--in-flight-502-at", type=float,
                       help="a 502 of a request in flight at this instant (a kill -9), or sent within 0.1 s after, is not counted")
    check.add_argument("--allow-503-retry-after", action="store_true")

    verify = sub.add_parser("verify")
    verify.add_argument("--host", default="127.0.0.1")
    verify.add_argument("--port", type=int, required=True)
    verify.add_argument("logs", nargs="+")

    health = sub.add_parser("wait-health")
    health.add_argument("--host", default="127.0.0.1")
    health.add_argument("--port", type=int, required=True)
    health.add_argument("--path", default="/health")
    health.add_argument("--field")
    health.add_argument("--value")
    health.add_argument("--timeout", type=float, default=30)

    args = parser.parse_args()
    handler = {"load": run_load, "check": run_check, "verify": run_verify,
               "wait-health": run_wait_health}[args.command]
    sys.exit(handler(args))


if __name__ == "__main__":
    main()
