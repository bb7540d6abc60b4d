"""Secrets of target definitions on a running `empiric serve` (issue 13,
item 5): an http target's URL with a user and password, POSTed or PUT
through the API or written in the configuration file, never shows its
password in the 201 or 200 reply, in the open GET of the target, in the
target list, in a refusal, in the store's display copy (`targets.spec`),
in the server's log or in `empiric check-config`; the user name stays and
the password reads `***`. A URL with a user name alone (often a token)
shows `***` in its place. The stored definition keeps the secret: the
probe still sends it. A definition carrying headers is refused (no kind
takes them yet) without echoing them. Every wait is bounded."""

import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apilib import bearer, json_body, make_token, request, run, spool_extra, wait_until  # noqa: E402
from harness import Database, Empiric, check, fail, free_port, parse_args  # noqa: E402

INTERVAL_MS = 400
SECRETS = ("cfg-pw-4711", "api-pw-0815", "put-pw-1234", "tok-user-9999", "hdr-secret-42",
           "bad-port-pw-7")


class AuthTarget:
    """An HTTP target that answers 200 and records the Authorization header
    of each request."""

    def __init__(self):
        self.port = free_port()
        self.seen = []
        target = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                target.seen.append(self.headers.get("Authorization") or "")
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def no_secret(what, text):
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    for s in SECRETS:
        if s in text:
            fail("%s shows the secret %s: %s" % (what, s, text[:600]))


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


def url(t, userinfo):
    return "http://%s@127.0.0.1:%d/health" % (userinfo, t.port)


def test_config_target(emp, db, t):
    st, _, raw = request(emp, "GET", "/api/v1/targets/conf")
    no_secret("GET of the configuration's target", raw)
    check(st == 200 and json_body(raw)["definition"]["url"] == url(t, "cfg:***"),
          "the configuration file's target: its password shows as ***, its user stays")
    no_secret("the store's display copy (targets.spec)",
              db.query("SELECT string_agg(spec::text, ' ') FROM targets"))
    check(True, "the store's display copy of a definition holds no password")


def write(emp, token, method, name, t, userinfo):
    """POST (or PUT) an http target whose URL has `userinfo`; (status, raw
    reply), which must not show a secret."""
    body = json.dumps({"name": name, "kind": "http", "url": url(t, userinfo),
                       "interval_ms": INTERVAL_MS, "timeout_ms": 300})
    path = "/api/v1/targets" + ("/" + name if method == "PUT" else "")
    st, _, raw = request(emp, method, path, body=body, headers=bearer(token))
    no_secret("the reply of %s %s" % (method, path), raw)
    return st, raw


def test_post_get_list(emp, db, token, t):
    st, raw = write(emp, token, "POST", "withpw", t, "admin:api-pw-0815")
    check(st == 201 and json_body(raw)["definition"]["url"] == url(t, "admin:***"),
          "POST: the 201 reply shows http://admin:***@host, not the password")
    st, _, raw = request(emp, "GET", "/api/v1/targets/withpw")
    no_secret("the open GET of the target", raw)
    check(st == 200 and json_body(raw)["definition"]["url"] == url(t, "admin:***"),
          "GET /api/v1/targets/withpw (no token): the same")
    st, _, raw = request(emp, "GET", "/api/v1/targets")
    no_secret("the target list", raw)
    check(st == 200 and any(x["name"] == "withpw" for x in json_body(raw)["targets"]),
          "GET /api/v1/targets lists it without the password")
    check("api-pw-0815" in db.query("SELECT api_definition::text FROM targets"
                                    " WHERE name = 'withpw'"),
          "the stored definition keeps the password (the probe needs it)")
    want = basic("admin", "api-pw-0815")
    wait_until("the probe sending the credentials", lambda: want in t.seen,
               (INTERVAL_MS + 2000) / 1000)
    check(True, "and the probe sends them")


def test_put_and_token_user(emp, token, t):
    st, raw = write(emp, token, "PUT", "withpw", t, "admin:put-pw-1234")
    check(st == 200 and json_body(raw)["definition"]["url"] == url(t, "admin:***"),
          "PUT: the 200 reply hides the new password")
    st, raw = write(emp, token, "POST", "tokuser", t, "tok-user-9999")
    st2, _, raw2 = request(emp, "GET", "/api/v1/targets/tokuser")
    no_secret("the GET of a URL with a token as its user", raw2)
    check(st == 201 and st2 == 200 and json_body(raw2)["definition"]["url"] == url(t, "***"),
          "a user name alone (often a token) shows as ***")


def test_refusals(emp, token, t):
    body = json.dumps({"name": "hdr", "kind": "http", "url": url(t, "u"),
                       "headers": {"Authorization": "Bearer hdr-secret-42"}})
    st, _, raw = request(emp, "POST", "/api/v1/targets", body=body, headers=bearer(token))
    no_secret("the refusal of a definition with headers", raw)
    check(st == 400 and "headers" in json_body(raw)["error"]["message"],
          "a definition with headers is refused (400 naming the key), the value not echoed")
    body = json.dumps({"name": "badport", "kind": "http",
                       "url": "http://admin:bad-port-pw-7@127.0.0.1:0/"})
    st, _, raw = request(emp, "POST", "/api/v1/targets", body=body, headers=bearer(token))
    no_secret("the refusal of a bad URL", raw)
    check(st == 400 and "admin:***@127.0.0.1:0" in json_body(raw)["error"]["message"],
          "a refused URL is echoed with its password hidden")


def test_check_config(binary, t):
    d = tempfile.mkdtemp(prefix="empiric-redact-")
    path = os.path.join(d, "bad.json")
    with open(path, "w") as f:
        json.dump({"targets": [{"name": "x", "kind": "http",
                                "url": "http://admin:bad-port-pw-7@127.0.0.1:99999/"}]}, f)
    r = subprocess.run([binary, "check-config", path], capture_output=True, text=True,
                       timeout=30)
    no_secret("empiric check-config", r.stdout + r.stderr)
    check(r.returncode != 0 and "admin:***@" in r.stderr,
          "empiric check-config names the bad URL with its password hidden")


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    t = AuthTarget()
    conf = {"name": "conf", "kind": "http", "url": url(t, "cfg:cfg-pw-4711"),
            "interval_ms": 1000}
    emp = Empiric(args.empiric, db, [conf], extra=spool_extra())

    def body():
        token = make_token(args.empiric, db, "ci")
        emp.start()
        test_config_target(emp, db, t)
        test_post_get_list(emp, db, token, t)
        test_put_and_token_user(emp, token, t)
        test_refusals(emp, token, t)
        test_check_config(args.empiric, t)
        no_secret("the server's log", emp.log_text())
        check(True, "the server's log holds no password")

    run(emp, db, body, closers=[t])


if __name__ == "__main__":
    main()
