#!/usr/bin/env python3
"""Login latency under a sign-up flood.

One user logs in again and again (one request at a time, at most one every
--login-interval, from its own client address) while --flooders threads send sign-ups as
fast as they are answered: either all reusing one existing email (--flood duplicate: the
issue-18 probe) or each a new email (--flood new: every one costs a password hash), or each
a new email from a client that gives up (--flood abandoned: no answer within --abandon-after,
the client closes its connection and sends the next on a new one); --flood none measures the
logins alone. It prints the logins' count, statuses and latency
percentiles, and the flood's statuses and rate.

--flood burst is the issue-18 probe as the issue states it: in rounds (one a second), the
--flooders threads each send one sign-up reusing one existing email at the same instant as
the user's login; it prints every sign-up's status, the slowest sign-up of each round and
the logins' latency.

    loadtest/login-flood.py --url http://127.0.0.1:8001 --flood duplicate --flooders 40 --duration 20

Against the user service's own port, with 127.0.0.1 among its LOGIN_TRUSTED_PROXIES, each
flooder names a client address of its own in X-Forwarded-For (as the gateway does for real
clients), so that the per-client rate limit sees 40 clients, not one. Bounded: stops after
--duration seconds. Loopback only by intent.
"""
import argparse
import collections
import http.client
import json
import threading
import time
from urllib.parse import urlsplit


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * (len(sorted_values) - 1)))))
    return sorted_values[index]


def post(connection, path, body, headers):
    payload = json.dumps(body).encode()
    connection.request("POST", path, body=payload, headers={"Content-Type": "application/json", **headers})
    response = connection.getresponse()
    response.read()
    return response.status


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="user service (or gateway) base URL, http only")
    parser.add_argument("--flood", choices=["none", "duplicate", "new", "abandoned", "burst"], default="duplicate")
    parser.add_argument("--flooders", type=int, default=40)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--timeout", type=float, default=30, help="per request, seconds")
    parser.add_argument("--login-interval", type=float, default=0.25, help="seconds between logins' starts")
    parser.add_argument("--abandon-after", type=float, default=0.05,
                        help="--flood abandoned: seconds a sign-up waits for its answer before its client hangs up")
    args = parser.parse_args()
    if args.flood == "none":
        args.flooders = 0
    target = urlsplit(args.url)
    host, port = target.hostname, target.port or 80

    def connect(timeout=None):
        return http.client.HTTPConnection(host, port, timeout=timeout or args.timeout)

    run = f"{int(time.time())}"
    # The two accounts: the one that logs in, and the one the duplicate flood reuses.
    setup = connect()
    for email in (f"login-{run}@example.com", f"taken-{run}@example.com"):
        status = post(setup, "/api/users", {"name": "Flood", "email": email, "password": "secret123"},
                      {"X-Forwarded-For": "198.51.100.250"})
        if status != 201:
            raise SystemExit(f"set-up sign-up for {email}: {status}")
    setup.close()

    if args.flood == "burst":
        return probe(args, connect, run)

    stop = time.monotonic() + args.duration
    flood_statuses = collections.Counter()
    login_times = []
    login_statuses = collections.Counter()
    lock = threading.Lock()

    def flooder(number):
        abandoning = args.flood == "abandoned"
        connection = connect(args.abandon_after if abandoning else None)
        sent = 0
        while time.monotonic() < stop:
            email = f"taken-{run}@example.com" if args.flood == "duplicate" else f"new-{run}-{number}-{sent}@example.com"
            sent += 1
            try:
                status = post(connection, "/api/users", {"name": "Flood", "email": email, "password": "secret123"},
                              {"X-Forwarded-For": f"203.0.113.{number % 250 + 1}"})
            except TimeoutError if abandoning else ():
                status = "abandoned"
                connection.close()
                connection = connect(args.abandon_after)
            except (OSError, http.client.HTTPException):
                status = "error"
                connection.close()
                connection = connect(args.abandon_after if abandoning else None)
            with lock:
                flood_statuses[status] += 1
        connection.close()

    def login():
        connection = connect()
        time.sleep(min(1.0, args.duration / 10))  # let the flood build up first
        while time.monotonic() < stop:
            started = time.monotonic()
            try:
                # One login every --login-interval at most: a person, not a second flood (and
                # within the per-client rate limit).
                status = post(connection, "/api/auth/login", {"email": f"login-{run}@example.com", "password": "secret123"},
                              {"X-Forwarded-For": "198.51.100.9"})
            except (OSError, http.client.HTTPException):
                status = "error"
                connection.close()
                connection = connect()
            elapsed = time.monotonic() - started
            with lock:
                login_statuses[status] += 1
                if status == 200:
                    login_times.append(elapsed)
            time.sleep(max(0.0, args.login_interval - elapsed))
        connection.close()

    threads = [threading.Thread(target=flooder, args=(i,)) for i in range(args.flooders)]
    threads.append(threading.Thread(target=login))
    began = time.monotonic()
    cpu_began = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.duration + args.timeout + 5)
    seconds = time.monotonic() - began

    print(f"flood: {args.flood}, {args.flooders} flooders, {seconds:.1f} s, "
          f"{sum(flood_statuses.values()) / seconds:.0f} sign-ups/s, statuses {dict(sorted(flood_statuses.items(), key=str))}")
    print_logins(login_times, login_statuses)
    # The load generator runs on the same cores as the service: what it took of them.
    print(f"load generator CPU: {(time.process_time() - cpu_began) / seconds:.2f} cores")


def print_logins(login_times, login_statuses):
    times = sorted(t * 1000 for t in login_times)
    print(f"logins: {len(login_times)} ok, statuses {dict(sorted(login_statuses.items(), key=str))}; "
          f"ms p50 {percentile(times, 0.5):.0f} p90 {percentile(times, 0.9):.0f} "
          f"p99 {percentile(times, 0.99):.0f} max {times[-1] if times else float('nan'):.0f}")


def probe(args, connect, run):
    """Rounds of --flooders concurrent duplicate sign-ups and one login, started together."""
    rounds = max(1, int(args.duration))
    signup_statuses = collections.Counter()
    slowest_signups = []
    login_times = []
    login_statuses = collections.Counter()
    lock = threading.Lock()
    # Connections are made before each round, so that a round measures requests, not handshakes.
    for _ in range(rounds):
        connections = [connect() for _ in range(args.flooders + 1)]
        for connection in connections:
            connection.connect()
        barrier = threading.Barrier(args.flooders + 1)
        signup_times = []

        def signup(number):
            barrier.wait(timeout=10)
            started = time.monotonic()
            try:
                status = post(connections[number], "/api/users",
                              {"name": "Probe", "email": f"taken-{run}@example.com", "password": "secret123"},
                              {"X-Forwarded-For": f"203.0.113.{number % 250 + 1}"})
            except (OSError, http.client.HTTPException):
                status = "error"
            with lock:
                signup_statuses[status] += 1
                signup_times.append(time.monotonic() - started)

        def login():
            barrier.wait(timeout=10)
            started = time.monotonic()
            try:
                status = post(connections[-1], "/api/auth/login",
                              {"email": f"login-{run}@example.com", "password": "secret123"},
                              {"X-Forwarded-For": "198.51.100.9"})
            except (OSError, http.client.HTTPException):
                status = "error"
            with lock:
                login_statuses[status] += 1
                if status == 200:
                    login_times.append(time.monotonic() - started)

        threads = [threading.Thread(target=signup, args=(i,)) for i in range(args.flooders)]
        threads.append(threading.Thread(target=login))
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(args.timeout + 10)
        for connection in connections:
            connection.close()
        slowest_signups.append(max(signup_times, default=float("nan")))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))

    slowest = sorted(t * 1000 for t in slowest_signups)
    print(f"flood: burst, {rounds} rounds of {args.flooders} duplicate sign-ups with one login; "
          f"sign-ups {dict(sorted(signup_statuses.items(), key=str))}, slowest of a round ms "
          f"p50 {percentile(slowest, 0.5):.0f} max {slowest[-1]:.0f}")
    print_logins(login_times, login_statuses)


if __name__ == "__main__":
    main()
