"""The API's limits on a running `empiric serve` configured small ("api":
4 connections per IP, 2 s idle timeout, 4 s request deadline, 2048-byte
bodies): a body over the cap gets 413 (announced, sent whole, or chunked);
a fifth connection from one address is refused while four are open and
served once one closes; a client trickling a header or a body byte every
second (never idle for the 2 s timeout) is cut by the absolute deadline; a
kept-alive connection whose requests each finish in time lives on past it;
a silent connection is closed by the idle timeout, before the deadline; headers over the
connection's memory get a 4xx; a body whose length is stated twice gets 400
and its connection closed. The server answers /healthz after each.
Every wait is bounded (the whole test takes about 35 s)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apilib import (closed_by_peer, json_body, make_token, raw_connect, request,  # noqa: E402
                    run, spool_extra)
from harness import Database, Empiric, check, fail, parse_args  # noqa: E402

DEADLINE_S = 4
IDLE_S = 2
PER_IP = 4
MAX_BODY = 2048


def read_response(sock, timeout_s=5):
    """One HTTP response from `sock`: (status, body bytes); by
    Content-Length."""
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            fail("connection closed before a response (%r)" % data[:200])
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, rest[:length]


def healthy(emp, what):
    st, _, body = request(emp, "GET", "/healthz")
    check(st == 200 and json_body(body) == {"status": "ok"}, "still serving after %s" % what)


def test_body_cap(emp, token):
    # Announced: refused before a byte of it is read.
    s = raw_connect(emp)
    s.sendall(b"POST /api/v1/targets HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n"
              b"Content-Type: application/json\r\n\r\n")
    st, body = read_response(s)
    s.close()
    err = json_body(body)["error"]
    check(st == 413 and err["code"] == "too_large",
          "a body announced over the cap: 413 too_large before it is sent (%d)" % st)
    # Sent whole, one byte over.
    st, h, body = request(emp, "PUT", "/api/v1/targets/x", body=b"{" + b" " * MAX_BODY + b"}")
    check(st == 413 and json_body(body)["error"]["code"] == "too_large",
          "a body of %d bytes: 413 (%d)" % (MAX_BODY + 2, st))
    # Chunked, with no length announced: counted as it comes, then 413.
    s = raw_connect(emp)
    s.sendall(b"POST /api/v1/targets HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
              b"Authorization: Bearer " + token.encode() + b"\r\n\r\n")
    for _ in range(4):
        s.sendall(b"400\r\n" + b"a" * 1024 + b"\r\n")
    s.sendall(b"0\r\n\r\n")
    st, body = read_response(s)
    s.close()
    check(st == 413 and json_body(body)["error"]["code"] == "too_large",
          "a chunked body over the cap, with a valid token: read up to the cap, then 413 (%d)"
          % st)
    # Under the cap it is read, and then the missing token is what counts.
    st, h, body = request(emp, "POST", "/api/v1/targets", body=b"{" + b" " * 100 + b"}")
    check(st == 401, "a body under the cap is read: 401 for the missing token (%d)" % st)
    healthy(emp, "bodies over the cap")


def test_per_ip(emp):
    time.sleep(0.3)  # the harness's own connections are gone
    held = []
    for _ in range(PER_IP):
        s = raw_connect(emp)
        held.append(s)
    # Make sure the server has taken them all in.
    held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    st, _ = read_response(held[0])
    check(st == 200, "%d connections from one address are served" % PER_IP)
    extra = raw_connect(emp)
    try:
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    except (ConnectionResetError, BrokenPipeError):
        pass
    check(closed_by_peer(extra, 2.0),
          "connection %d from the same address is closed without an answer" % (PER_IP + 1))
    extra.close()
    held.pop().close()
    time.sleep(0.3)
    s = raw_connect(emp)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    st, _ = read_response(s)
    check(st == 200, "with one of them closed, a new connection is served")
    s.close()
    for s in held:
        s.close()
    time.sleep(0.3)


def trickle(emp, prefix, byte, what):
    """Send `prefix`, then `byte` every second; the time the server cut the
    connection (from connect), or None after 10 s."""
    t0 = time.time()
    s = raw_connect(emp)
    s.sendall(prefix)
    cut = None
    while time.time() - t0 < 10:
        if closed_by_peer(s, 1.0):
            cut = time.time() - t0
            break
        try:
            s.sendall(byte)
        except (ConnectionResetError, BrokenPipeError):
            cut = time.time() - t0
            break
    s.close()
    if cut is None:
        fail("%s: still open after 10 s (deadline %d s)" % (what, DEADLINE_S))
    check(DEADLINE_S - 0.5 <= cut <= DEADLINE_S + 2.5,
          "%s, a byte a second (never idle %d s): cut by the %d s deadline after %.1f s" %
          (what, IDLE_S, DEADLINE_S, cut))


def test_slowloris(emp, token):
    trickle(emp, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ", b"a", "headers trickled")
    trickle(emp, b"PUT /api/v1/targets/x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n"
                 b"Authorization: Bearer " + token.encode() + b"\r\n\r\n", b" ",
         "a body trickled (valid token)")
    healthy(emp, "slow clients")


def test_keep_alive(emp):
    """Requests on one connection, each answered at once, for twice the
    deadline: the deadline is per request, not per connection."""
    s = raw_connect(emp)
    t0 = time.time()
    n = 0
    while time.time() - t0 < 2 * DEADLINE_S:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        st, body = read_response(s)
        if st != 200:
            fail("keep-alive request %d: %d" % (n, st))
        n += 1
        time.sleep(1.0)
    s.close()
    check(n >= 2 * DEADLINE_S - 1,
          "one kept-alive connection served %d requests over %.0f s (deadline %d s each)" %
          (n, time.time() - t0, DEADLINE_S))


def test_idle(emp):
    s = raw_connect(emp)
    t0 = time.time()
    closed = closed_by_peer(s, IDLE_S + 4)
    took = time.time() - t0
    s.close()
    check(closed and took <= IDLE_S + 1.5 and took < DEADLINE_S,
          "a silent connection is closed (idle timeout %d s, deadline %d s) after %.1f s" %
          (IDLE_S, DEADLINE_S, took))


def test_big_headers(emp):
    s = raw_connect(emp)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
        st, _ = read_response(s)
    except (ConnectionResetError, BrokenPipeError):
        st = 0
    except SystemExit:
        st = 0
    s.close()
    check(st == 0 or 400 <= st < 500,
          "headers over the connection's memory: refused (%s)" % (st or "closed"))
    healthy(emp, "oversized headers")


def test_framing(emp, token):
    """A body whose length is stated twice: 400 and the connection closed,
    so that nothing hidden in the body is answered as a request."""
    hidden = b"GET /api/v1/monitor HTTP/1.1\r\nHost: t\r\n\r\n"
    body = b"{}" + hidden
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
    cases = [
        ("two different Content-Length",
         b"Content-Length: 2\r\nContent-Length: %d\r\n" % len(body)),
        ("two equal Content-Length", b"Content-Length: 2\r\nContent-Length: 2\r\n"),
        ("Content-Length with Transfer-Encoding",
         b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n"),
    ]
    for what, framing in cases:
        s = raw_connect(emp)
        s.sendall(b"POST /api/v1/targets HTTP/1.1\r\nHost: t\r\n" + auth + framing +
                  b"\r\n" + body)
        st, reply = read_response(s)
        check(st == 400 and json_body(reply)["error"]["code"] == "bad_request",
              "%s: 400 (%d %r)" % (what, st, reply[:120]))
        check(closed_by_peer(s, 3), "%s: the connection is closed after the 400" % what)
        s.close()
    healthy(emp, "ambiguous body lengths")


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    extra = {"api": {"max_connections_per_ip": PER_IP, "idle_timeout_s": IDLE_S,
                     "request_deadline_s": DEADLINE_S, "max_body_bytes": MAX_BODY}}
    extra.update(spool_extra())
    emp = Empiric(args.empiric, db, [], extra=extra)

    def body():
        emp.start()
        token = make_token(args.empiric, db, "limits")
        test_body_cap(emp, token)
        test_per_ip(emp)
        test_slowloris(emp, token)
        test_keep_alive(emp)
        test_idle(emp)
        test_big_headers(emp)
        test_framing(emp, token)

    run(emp, db, body)


if __name__ == "__main__":
    main()
