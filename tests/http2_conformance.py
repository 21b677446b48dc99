#!/usr/bin/python3
"""HTTP/2 conformance cases driven by an independent peer: Python's h2 library (Debian's
python3-h2), speaking to a Marquee server over h2c with prior knowledge or over TLS with ALPN.

Usage: tests/http2_conformance.py HOST PORT [--tls CAFILE] [--get PATH] [--echo PATH] [--big PATH]
  --get PATH    a GET answered 200 (default /)
  --echo PATH   a POST that answers its body back (cases skipped without it)
  --big PATH    a GET whose body is larger than 64 KiB (flow-control case skipped without it)
  --body-timeout SECONDS  the server's request body timeout (the 408 case, skipped without it)
  --max-body BYTES        the server's request body limit (the 413 case, skipped without it)
  --hold PATH --release PATH  a POST that reads one piece of its body, then waits for a GET of
                the release path before it reads the rest and answers its length (the
                backpressure case, skipped without them)
  --trailers PATH  a POST whose answer holds the request's trailer values (skipped without it)
  --response-trailers PATH  a GET answered "streamed body" followed by exactly the trailers
                x-checksum: sha256-response and grpc-status: 0 (skipped without it)
  --only CASE   run that case alone

Prints one line per case and exits non-zero when any case fails. Every socket has a timeout.
"""
import socket
import ssl
import struct
import sys

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import hpack

TIMEOUT = 10


def connect(args):
    sock = socket.create_connection((args.host, args.port), timeout=TIMEOUT)
    if args.tls:
        context = ssl.create_default_context(cafile=args.tls)
        context.set_alpn_protocols(["h2", "http/1.1"])
        sock = context.wrap_socket(sock, server_hostname="localhost")
        assert sock.selected_alpn_protocol() == "h2", f"ALPN chose {sock.selected_alpn_protocol()}"
    return sock


def client(args, validate=True, settings=None):
    sock = connect(args)
    config = h2.config.H2Configuration(
        client_side=True, validate_outbound_headers=validate, normalize_outbound_headers=validate,
        validate_inbound_headers=True)
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    if settings:
        conn.update_settings(settings)
    sock.sendall(conn.data_to_send())
    return sock, conn


def headers(args, method, path, extra=()):
    return [(":method", method), (":scheme", "https" if args.tls else "http"), (":path", path),
            (":authority", "localhost")] + list(extra)


def pump(sock, conn, until, limit=2000):
    """Reads and handles events until `until(events)` is true; returns all events."""
    seen = []
    for _ in range(limit):
        if until(seen):
            return seen
        data = sock.recv(65536)
        if not data:
            seen.append("closed")
            return seen
        for event in conn.receive_data(data):
            seen.append(event)
            if isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    raise AssertionError("no end after many reads")


def ended(ids):
    return lambda seen: all(any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == i
                                for e in seen) for i in ids)


def goaway(seen):
    return any(isinstance(e, h2.events.ConnectionTerminated) for e in seen) or "closed" in seen


def responses(seen):
    result = {}
    for event in seen:
        if isinstance(event, h2.events.ResponseReceived):
            result.setdefault(event.stream_id, {})["headers"] = dict(event.headers)
        if isinstance(event, h2.events.DataReceived):
            entry = result.setdefault(event.stream_id, {})
            entry["body"] = entry.get("body", b"") + event.data
    return result


def terminated_with(seen):
    for event in seen:
        if isinstance(event, h2.events.ConnectionTerminated):
            return event.error_code
    return None


def case_multiplexed(args):
    sock, conn = client(args)
    ids = []
    for _ in range(10):
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, headers(args, "GET", args.get), end_stream=True)
        ids.append(stream)
    sock.sendall(conn.data_to_send())
    got = responses(pump(sock, conn, ended(ids)))
    assert sorted(got) == ids, f"streams answered: {sorted(got)}"
    for stream in ids:
        assert got[stream]["headers"][b":status"] == b"200", got[stream]["headers"]
        assert b"date" in got[stream]["headers"] and b"connection" not in got[stream]["headers"]
    sock.close()


def case_post_body(args):
    sock, conn = client(args)
    body = bytes(range(256)) * 400  # 100 KiB: more than the stream's first window
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, headers(args, "POST", args.echo, [("content-length", str(len(body))),
                                                                 ("content-type", "application/octet-stream")]))
    sent = 0
    seen = []
    while sent < len(body):
        room = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size, len(body) - sent)
        if room == 0:
            seen += pump(sock, conn, lambda s: conn.local_flow_control_window(stream) > 0)
            continue
        conn.send_data(stream, body[sent:sent + room], end_stream=sent + room == len(body))
        sent += room
        sock.sendall(conn.data_to_send())
    seen += pump(sock, conn, ended([stream]))
    got = responses(seen)[stream]
    assert got["headers"][b":status"] == b"200", got["headers"]
    assert got.get("body") == body, f"echoed {len(got.get('body', b''))} bytes"
    sock.close()


def case_small_window(args):
    # A 1000-byte stream window: the server must send no more than the client allows.
    sock, conn = client(args, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000})
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, headers(args, "GET", args.big), end_stream=True)
    sock.sendall(conn.data_to_send())
    got = responses(pump(sock, conn, ended([stream])))[stream]
    assert got["headers"][b":status"] == b"200" and len(got["body"]) > 65536, len(got.get("body", b""))
    sock.close()


def case_ping(args):
    sock, conn = client(args)
    conn.ping(b"marquee!")
    sock.sendall(conn.data_to_send())
    seen = pump(sock, conn, lambda s: any(isinstance(e, h2.events.PingAckReceived) for e in s))
    ack = [e for e in seen if isinstance(e, h2.events.PingAckReceived)][0]
    assert ack.ping_data == b"marquee!"
    sock.close()


def case_malformed_stream_reset(args):
    sock, conn = client(args, validate=False)
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, headers(args, "GET", args.get, [("connection", "keep-alive")]), end_stream=True)
    sock.sendall(conn.data_to_send())
    seen = pump(sock, conn, ended([stream]))
    resets = [e for e in seen if isinstance(e, h2.events.StreamReset)]
    assert resets and resets[0].error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR, seen
    # The connection goes on.
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, headers(args, "GET", args.get), end_stream=True)
    sock.sendall(conn.data_to_send())
    got = responses(pump(sock, conn, ended([stream])))
    assert got[stream]["headers"][b":status"] == b"200"
    sock.close()


def case_rapid_reset(args):
    sock, conn = client(args)
    for _ in range(400):
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, headers(args, "GET", args.get), end_stream=True)
        conn.reset_stream(stream)
    try:
        sock.sendall(conn.data_to_send())
    except (BrokenPipeError, ConnectionResetError):
        pass
    code = terminated_with(pump(sock, conn, goaway))
    assert code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, code
    sock.close()


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def raw_goaway_code(args, payload_after_preface):
    """Sends the preface, an empty SETTINGS and `payload_after_preface` as raw bytes; returns
    the error code of the GOAWAY the server answers with."""
    sock = connect(args)
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b""))
    try:
        sock.sendall(payload_after_preface)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    sock.close()
    offset = 0
    while offset + 9 <= len(data):
        length = int.from_bytes(data[offset:offset + 3], "big")
        if data[offset + 3] == 7:
            return int.from_bytes(data[offset + 13:offset + 17], "big")
        offset += 9 + length
    return None


def case_continuation_flood(args):
    block = bytes([0x82, 0x84, 0x86, 0x41, 0x09]) + b"localhost"
    flood = frame(1, 0, 1, block) + b"".join(frame(9, 0, 1, b"") for _ in range(1000))
    code = raw_goaway_code(args, flood)
    assert code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, code


def case_settings_and_ping_flood(args):
    assert raw_goaway_code(args, frame(4, 0, 0, b"") * 1000) == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    assert raw_goaway_code(args, frame(6, 0, 0, b"12345678") * 1000) == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM


def case_window_overflow(args):
    code = raw_goaway_code(args, frame(8, 0, 0, struct.pack(">I", 0x7fffffff)))
    assert code == h2.errors.ErrorCodes.FLOW_CONTROL_ERROR, code


def case_hpack_bomb(args):
    # A 4 KB literal indexed once, then referenced 100 times: ~400 KB decoded from ~4.2 KB.
    # The server answers that request 431 and keeps the connection (its HPACK state in step).
    literal = bytes([0x40, 0x06]) + b"x-bomb" + bytes([0x7f, 0xa1, 0x1e]) + b"a" * 4000
    block = bytes([0x82, 0x84, 0x86, 0x41, 0x09]) + b"localhost" + literal + bytes([0xbe]) * 100
    sock = connect(args)
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") + frame(1, 5, 1, block))
    decoder = hpack.Decoder()
    data = b""
    status = None
    while status is None:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        while len(data) >= 9 and len(data) >= 9 + int.from_bytes(data[:3], "big"):
            length = int.from_bytes(data[:3], "big")
            kind, payload, data = data[3], data[9:9 + length], data[9 + length:]
            if kind == 1:
                status = dict(decoder.decode(payload)).get(":status")
            assert kind != 7, "GOAWAY instead of 431"
    sock.close()
    assert status == "431", status


def answered_early(args, sock, conn, stream, status):
    """The server answered `stream` with `status` before the request body ended, then reset
    the stream with NO_ERROR (RFC 9113 §8.1); the connection serves the next request."""
    seen = pump(sock, conn, ended([stream]))
    got = responses(seen).get(stream, {})
    assert got.get("headers", {}).get(b":status") == status, got
    assert got.get("body"), got  # an answer with a body (its wording is the server's error renderer's)
    seen += pump(sock, conn, lambda s: any(isinstance(e, h2.events.StreamReset) and e.stream_id == stream
                                           for e in seen + s))
    resets = [e for e in seen if isinstance(e, h2.events.StreamReset) and e.stream_id == stream]
    assert resets and resets[0].error_code == h2.errors.ErrorCodes.NO_ERROR, resets
    following = conn.get_next_available_stream_id()
    conn.send_headers(following, headers(args, "GET", args.get), end_stream=True)
    sock.sendall(conn.data_to_send())
    assert responses(pump(sock, conn, ended([following])))[following]["headers"][b":status"] == b"200"


def case_body_timeout(args):
    # Three bytes of a ten-byte body, then nothing: 408 after the body timeout.
    sock, conn = client(args)
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, headers(args, "POST", args.echo, [("content-length", "10")]))
    conn.send_data(stream, b"abc")
    sock.sendall(conn.data_to_send())
    sock.settimeout(float(getattr(args, "body-timeout")) + TIMEOUT)
    answered_early(args, sock, conn, stream, b"408")
    sock.close()


def case_body_too_large(args):
    # One byte more than the limit, sent as the windows open: 413, and the rest refused.
    sock, conn = client(args)
    limit = int(getattr(args, "max-body"))
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, headers(args, "POST", args.echo))
    sent = 0
    seen = []
    while sent <= limit and not any(isinstance(e, (h2.events.ResponseReceived, h2.events.StreamReset)) for e in seen):
        room = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size, limit + 1 - sent)
        if room == 0:
            seen += pump(sock, conn, lambda s: conn.local_flow_control_window(stream) > 0 or
                         any(isinstance(e, (h2.events.ResponseReceived, h2.events.StreamReset)) for e in s))
            continue
        conn.send_data(stream, b"x" * room)
        sent += room
        sock.sendall(conn.data_to_send())
    got = responses(seen + pump(sock, conn, ended([stream])))
    assert got.get(stream, {}).get("headers", {}).get(b":status") == b"413", got.get(stream)
    sock.close()


def send_body(sock, conn, stream, body, seen, end_stream=True):
    """Sends `body` on `stream` as the windows allow, reading (into `seen`) while they are closed."""
    sent = 0
    while sent < len(body):
        room = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size, len(body) - sent)
        if room == 0:
            seen += pump(sock, conn, lambda s: conn.local_flow_control_window(stream) > 0)
            continue
        conn.send_data(stream, body[sent:sent + room], end_stream=end_stream and sent + room == len(body))
        sent += room
        sock.sendall(conn.data_to_send())


def case_streamed_body_backpressure(args):
    # A body without content-length, larger than the stream's window, to a handler that holds
    # after its first piece: the stream's window must not open while it holds (the bytes wait
    # in the server, not acknowledged), and must open once it reads on, so the body finishes.
    sock, conn = client(args)
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, headers(args, "POST", args.hold))
    window = conn.local_flow_control_window(stream)
    conn.send_data(stream, b"h" * min(window, conn.max_outbound_frame_size))
    rest = window - min(window, conn.max_outbound_frame_size)
    while rest > 0:
        piece = min(rest, conn.max_outbound_frame_size)
        conn.send_data(stream, b"h" * piece)
        rest -= piece
    assert conn.local_flow_control_window(stream) == 0
    # A PING after the whole window: its ACK comes after anything the server sent on reading
    # that data, so a WINDOW_UPDATE for the stream before the ACK means it was not held back.
    conn.ping(b"holdtest")
    sock.sendall(conn.data_to_send())
    seen = pump(sock, conn, lambda s: any(isinstance(e, h2.events.PingAckReceived) for e in s))
    updates = [e for e in seen if isinstance(e, h2.events.WindowUpdated) and e.stream_id == stream]
    assert not updates, f"the stream's window opened while its handler held: {updates}"
    release = conn.get_next_available_stream_id()
    conn.send_headers(release, headers(args, "GET", args.release), end_stream=True)
    sock.sendall(conn.data_to_send())
    more = b"m" * 50_000  # (the whole body stays under the server's limit)
    send_body(sock, conn, stream, more, seen)
    seen += pump(sock, conn, lambda s: ended([stream, release])(seen + s))
    got = responses(seen)
    assert got[stream]["headers"][b":status"] == b"200", got[stream]
    assert got[stream].get("body") == str(window + len(more)).encode(), got[stream].get("body")
    sock.close()


def case_trailers(args):
    # A body in pieces without content-length, then trailers: they reach the handler.
    sock, conn = client(args)
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, headers(args, "POST", args.trailers, [("content-type", "application/octet-stream")]))
    seen = []
    send_body(sock, conn, stream, b"t" * 5000, seen, end_stream=False)
    conn.send_headers(stream, [("x-checksum", "trailer-check-7f3a")], end_stream=True)
    sock.sendall(conn.data_to_send())
    got = responses(seen + pump(sock, conn, ended([stream])))[stream]
    assert got["headers"][b":status"] == b"200", got
    assert b"trailer-check-7f3a" in got.get("body", b""), got.get("body")
    sock.close()


def case_response_trailers(args):
    # A response body followed by trailer fields: one HEADERS frame after the DATA, ending the stream.
    sock, conn = client(args)
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, headers(args, "GET", getattr(args, "response-trailers")), end_stream=True)
    sock.sendall(conn.data_to_send())
    seen = [e for e in pump(sock, conn, ended([stream])) if getattr(e, "stream_id", None) == stream]
    got = responses(seen)[stream]
    assert got["headers"][b":status"] == b"200", got
    assert got.get("body") == b"streamed body", got.get("body")
    trailers = [i for i, e in enumerate(seen) if isinstance(e, h2.events.TrailersReceived)]
    assert len(trailers) == 1, f"no single trailing HEADERS frame: {seen}"
    last_data = max(i for i, e in enumerate(seen) if isinstance(e, h2.events.DataReceived))
    assert last_data < trailers[0], f"trailers before the end of the body: {seen}"
    assert seen[trailers[0]].stream_ended is not None, "the trailing HEADERS did not end the stream"
    fields = sorted(seen[trailers[0]].headers)
    assert fields == [(b"grpc-status", b"0"), (b"x-checksum", b"sha256-response")], fields
    sock.close()


class Args:
    def __init__(self, argv):
        self.host, self.port = argv[0], int(argv[1])
        self.tls = None
        self.get = "/"
        self.echo = None
        self.big = None
        setattr(self, "body-timeout", None)
        setattr(self, "max-body", None)
        self.hold = None
        self.release = None
        self.trailers = None
        setattr(self, "response-trailers", None)
        self.only = None
        rest = argv[2:]
        while rest:
            flag, value, rest = rest[0], rest[1], rest[2:]
            setattr(self, flag.lstrip("-"), value)


def main():
    args = Args(sys.argv[1:])
    cases = [case_multiplexed, case_ping, case_malformed_stream_reset, case_rapid_reset,
             case_continuation_flood, case_settings_and_ping_flood, case_window_overflow, case_hpack_bomb]
    if args.echo:
        cases.append(case_post_body)
    if args.big:
        cases.append(case_small_window)
    if args.echo and getattr(args, "body-timeout"):
        cases.append(case_body_timeout)
    if args.echo and getattr(args, "max-body"):
        cases.append(case_body_too_large)
    if args.hold and args.release:
        cases.append(case_streamed_body_backpressure)
    if args.trailers:
        cases.append(case_trailers)
    if getattr(args, "response-trailers"):
        cases.append(case_response_trailers)
    if args.only:
        cases = [case for case in cases if case.__name__ == args.only]
        assert cases, f"no case {args.only} (or its options are missing)"
    failed = 0
    for case in cases:
        try:
            case(args)
            print(f"ok   {case.__name__}")
        except Exception as error:  # noqa: BLE001 - report every case, then fail
            failed += 1
            print(f"FAIL {case.__name__}: {type(error).__name__}: {error}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
