#!/usr/bin/env python3
"""What idle keep-alive connections cost a server: its RSS before and after N of them.

N clients connect, send one GET each, read the answer and then stay connected, silent
(keep-alive clients between requests). With an https:// URL each first makes a TLS handshake
(certificate not checked); with --h2c each opens HTTP/2 with prior knowledge instead (the
preface and an empty SETTINGS), waits for the server's SETTINGS and sends no request. The server's resident memory (VmRSS, summed over
the pids given: nginx's master and workers, say) is read before the first connection and
again once every client has its answer and the server has had a moment to settle; the
difference divided by N is the cost of one idle connection.

    ulimit -n 120000   # each client is a descriptor (and the server needs as many)
    loadtest/idle-rss.py --url http://127.0.0.1:8080/ --pids 1234 --clients 10000

Past ~25,000 clients the connections come from several loopback addresses (127.0.0.2,
127.0.0.3, ...), since one address pair has only the ephemeral port range to spread over.
Bounded: gives up after --timeout seconds; holds the connections --hold seconds more (for
a load test run alongside), then closes them. Prints one line
"clients N ok N rss_before_kib B rss_after_kib A per_connection_kib P". Loopback only.
"""
import argparse
import collections
import errno
import os
import select
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from burst import get_request, response_complete  # noqa: E402

PER_ADDRESS = 25000


def rss_kib(pids):
    """VmRSS summed over `pids`, in KiB."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


H2C_OPENING = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def h2_settings_received(buffer):
    """200 once `buffer` holds a whole SETTINGS frame that is not an acknowledgement, else None."""
    offset = 0
    while len(buffer) - offset >= 9:
        length = int.from_bytes(buffer[offset:offset + 3], "big")
        kind, flags = buffer[offset + 3], buffer[offset + 4]
        if len(buffer) - offset - 9 < length:
            return None
        if kind == 4 and not flags & 1:
            return 200
        offset += 9 + length
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--pids", required=True, help="comma-separated pids whose RSS is summed")
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between the last answer and the RSS")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to keep the connections after measuring")
    parser.add_argument("--h2c", action="store_true", help="open HTTP/2 (prior knowledge) and send no request")
    arguments = parser.parse_args()

    scheme, _, rest = arguments.url.partition("://")
    host, port, request = get_request("http://" + rest, "idle-rss")
    tls = None
    if scheme == "https":
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        tls.set_alpn_protocols(["http/1.1"])
    complete = response_complete
    if arguments.h2c:
        request, complete = H2C_OPENING, h2_settings_received
    pids = [int(pid) for pid in arguments.pids.split(",") if pid]

    before = rss_kib(pids)
    poller = select.epoll()
    sockets = {}
    buffers = {}
    statuses = collections.Counter()
    started = time.monotonic()
    deadline = started + arguments.timeout
    pending = 0
    opened = 0

    handshaking = set()

    def failed(fd, name):
        nonlocal pending
        statuses[name] += 1
        poller.unregister(fd)
        pending -= 1

    def handshake(fd):
        """Drives a TLS handshake; sends the request once it is done."""
        sock = sockets[fd]
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            poller.modify(fd, select.EPOLLIN)
            return
        except ssl.SSLWantWriteError:
            poller.modify(fd, select.EPOLLOUT)
            return
        except (ssl.SSLError, OSError) as error:
            handshaking.discard(fd)
            failed(fd, f"tls: {error}")
            return
        handshaking.discard(fd)
        sock.send(request)
        buffers[fd] = bytearray()
        poller.modify(fd, select.EPOLLIN)

    def poll_once(wait):
        nonlocal pending
        for fd, events in poller.poll(wait):
            sock = sockets[fd]
            if fd in handshaking:
                handshake(fd)
                continue
            if fd not in buffers:
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code != 0:
                    failed(fd, errno.errorcode.get(code, str(code)))
                    continue
                if tls is not None:
                    sockets[fd] = tls.wrap_socket(sock, do_handshake_on_connect=False)
                    handshaking.add(fd)
                    handshake(fd)
                    continue
                sock.send(request)
                buffers[fd] = bytearray()
                poller.modify(fd, select.EPOLLIN)
                continue
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue
            except OSError as error:
                data = None
                statuses[errno.errorcode.get(error.errno, str(error.errno))] += 1
            if data:
                buffers[fd] += data
                status = complete(buffers[fd])
                if status is None:
                    continue
                statuses[status] += 1
            elif data is not None:
                statuses["closed before an answer"] += 1
            buffers[fd] = None
            poller.unregister(fd)
            pending -= 1

    while opened < arguments.clients and time.monotonic() < deadline:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if arguments.clients > PER_ADDRESS:
            sock.bind((f"127.0.0.{2 + opened // PER_ADDRESS}", 0))
        code = sock.connect_ex((host, port))
        opened += 1
        if code not in (0, errno.EINPROGRESS):
            statuses[errno.errorcode.get(code, str(code))] += 1
            sock.close()
            continue
        sockets[sock.fileno()] = sock
        poller.register(sock.fileno(), select.EPOLLOUT)
        pending += 1
        # Keep the number in flight bounded: a listener's backlog is finite.
        while pending >= 1000 and time.monotonic() < deadline:
            poll_once(0.5)
    while pending > 0 and time.monotonic() < deadline:
        poll_once(0.5)
    time.sleep(arguments.settle)
    after = rss_kib(pids)
    ok = sum(count for status, count in statuses.items() if isinstance(status, int) and 200 <= status < 300)
    failures = {str(name): count for name, count in statuses.items() if not (isinstance(name, int) and 200 <= name < 300)}
    print(
        f"clients {arguments.clients} ok {ok} rss_before_kib {before} rss_after_kib {after} "
        f"per_connection_kib {(after - before) / max(ok, 1):.2f}" + (f" failures {failures}" if failures else ""),
        flush=True)
    time.sleep(arguments.hold)
    for sock in sockets.values():
        sock.close()
    sys.exit(0 if ok == arguments.clients else 1)


if __name__ == "__main__":
    main()
