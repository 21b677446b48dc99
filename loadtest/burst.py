#!/usr/bin/env python3
"""A connection burst: N keep-alive clients connect at once and send one request each.

What it measures is what a crowd arriving together sees: every client opens its own
connection (all of them in flight at the same time), sends one GET, reads the answer and
keeps the connection open until every client has its answer, so the server holds all N
at once. It prints the count per status, connection failures, and latency percentiles
(from sending the request to the end of the response).

    ulimit -n 20000   # within the hard limit: each client is a descriptor
    loadtest/burst.py --url http://127.0.0.1:8080/api/movies/1 --clients 10000 --timeout 60

Exit status: 0 when every client got a 2xx, 1 otherwise. Bounded: gives up after
--timeout seconds and counts the clients without an answer as "no answer".
Loopback only by intent (it opens thousands of connections from one address).
"""
import argparse
import collections
import errno
import select
import socket
import sys
import time
from urllib.parse import urlsplit


class Client:
    __slots__ = ("sock", "state", "sent_at", "done_at", "buffer", "status", "error", "request")

    def __init__(self, sock, request):
        self.sock = sock
        self.state = "connecting"
        self.sent_at = None
        self.done_at = None
        self.buffer = bytearray()
        self.status = None
        self.error = None
        self.request = request


def response_complete(buffer):
    """The status when `buffer` holds a whole response (Content-Length or chunked), else None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ")[1])
    length = None
    chunked = False
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    body = buffer[end + 4:]
    if chunked:
        return status if body.endswith(b"0\r\n\r\n") else None
    if length is None:
        length = 0
    return status if len(body) >= length else None


def get_request(url_text, agent):
    """(host, port, bytes of a GET with Host and User-Agent) for an http:// URL; exits otherwise."""
    url = urlsplit(url_text)
    if url.scheme != "http":
        sys.exit(f"{agent}: only http:// URLs")
    host, port = url.hostname, url.port or 80
    target = (url.path or "/") + (("?" + url.query) if url.query else "")
    return host, port, f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {agent}\r\n\r\n".encode()


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    arguments = parser.parse_args()

    host, port, request = get_request(arguments.url, "burst")

    poller = select.epoll()
    clients = {}
    connect_errors = collections.Counter()
    started = time.monotonic()
    for _ in range(arguments.clients):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((host, port))
        if code not in (0, errno.EINPROGRESS):
            connect_errors[errno.errorcode.get(code, str(code))] += 1
            sock.close()
            continue
        clients[sock.fileno()] = Client(sock, request)
        poller.register(sock.fileno(), select.EPOLLOUT | select.EPOLLIN)
    opened = time.monotonic()

    pending = len(clients)
    deadline = started + arguments.timeout
    while pending > 0 and time.monotonic() < deadline:
        for fd, events in poller.poll(0.5):
            client = clients[fd]
            if client.state == "connecting":
                code = client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code != 0:
                    client.state = "failed"
                    client.error = errno.errorcode.get(code, str(code))
                    poller.unregister(fd)
                    pending -= 1
                    continue
                client.sock.send(client.request)
                client.sent_at = time.monotonic()
                client.state = "reading"
                poller.modify(fd, select.EPOLLIN)
                continue
            if client.state != "reading":
                continue
            try:
                data = client.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as error:
                data = None
                client.error = errno.errorcode.get(error.errno, str(error.errno))
            if data:
                client.buffer += data
                status = response_complete(client.buffer)
                if status is None:
                    continue
                client.status = status
            elif client.error is None:
                client.error = "closed before an answer"
            client.done_at = time.monotonic()
            client.state = "done"
            # Keep the connection open (a keep-alive client), but stop watching it.
            poller.unregister(fd)
            pending -= 1
    finished = time.monotonic()

    statuses = collections.Counter()
    failures = collections.Counter(connect_errors)
    latencies = []
    for client in clients.values():
        if client.status is not None:
            statuses[client.status] += 1
            latencies.append(client.done_at - client.sent_at)
        elif client.error is not None:
            failures[client.error] += 1
        else:
            failures["no answer"] += 1
    latencies.sort()
    ms = lambda seconds: f"{seconds * 1000:.1f} ms"
    print(f"clients {arguments.clients}, opened in {ms(opened - started)}, all done in {ms(finished - started)}")
    print("statuses: " + ", ".join(f"{code}: {count}" for code, count in sorted(statuses.items())))
    if failures:
        print("failures: " + ", ".join(f"{name}: {count}" for name, count in failures.most_common()))
    if latencies:
        print(
            f"latency p50 {ms(percentile(latencies, 0.5))}, p99 {ms(percentile(latencies, 0.99))}, "
            f"max {ms(latencies[-1])}"
        )
    for client in clients.values():
        client.sock.close()
    ok = sum(count for code, count in statuses.items() if 200 <= code < 300)
    sys.exit(0 if ok == arguments.clients else 1)


if __name__ == "__main__":
    main()
