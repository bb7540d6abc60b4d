"""GET /api/v1/status and the static files of the status page: seeded
history (`empiric import`, one day's coverage cut out), then the figures of
every target against what was seeded and against the other endpoints; the
web directory's files, and refusal of `..`, %2e%2e and symlinks out of it."""

import http.client
import os
import shutil
import tempfile

from harness import Database, Empiric, check, parse_args, strict_json
from status_seed import DAY, crafted, midnight, seed


def raw_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    headers = dict((k.lower(), v) for k, v in r.getheaders())
    c.close()
    return r.status, headers, body


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    import time
    rows, names = crafted(int(time.time()))
    now, grey = seed(args.empiric, db, rows, names)
    # A web directory of our own, with a symlink out of it and one inside.
    web = tempfile.mkdtemp(prefix="empiric-web-")
    os.makedirs(os.path.join(web, "static"))
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("<!doctype html><title>t</title>")
    with open(os.path.join(web, "static", "app.js"), "w") as f:
        f.write("1;")
    with open(os.path.join(web, "secret.txt"), "w") as f:
        f.write("not under static")
    outside = tempfile.mkdtemp(prefix="empiric-outside-")
    with open(os.path.join(outside, "x.css"), "w") as f:
        f.write("outside")
    os.symlink(os.path.join(outside, "x.css"), os.path.join(web, "static", "evil.css"))
    os.symlink(os.path.join(web, "static", "app.js"), os.path.join(web, "static", "alias.js"))
    os.environ["EMPIRIC_WEB_DIR"] = web
    emp = Empiric(args.empiric, db, [])
    try:
        emp.start()
        run(emp, now, grey)
        static(emp)
    finally:
        emp.stop()
        db.drop()
        shutil.rmtree(web, ignore_errors=True)
        shutil.rmtree(outside, ignore_errors=True)


def run(emp, now, grey):
    st, s = emp.get("/api/v1/status")
    check(st == 200, "GET /api/v1/status answers 200")
    by = {t["name"]: t for t in s["targets"]}
    check(sorted(by) == ["a", "b", "c"], "every target listed")
    check(all(len(t["days"]["availability"]) == 90 and len(t["days"]["coverage"]) == 90
              for t in s["targets"]), "90 daily bars each")
    today = midnight(now)
    gi = 89 - (today - grey) // DAY
    a = by["a"]
    cov = a["days"]["coverage"][gi]
    print("grey day", gi, "coverage", cov)
    check(abs(cov - 0.25) < 1e-6, "the cut-out day is a quarter observed")
    i30 = 89 - 30
    check(abs(a["days"]["down_s"][i30] - 600) < 1e-6 and a["days"]["outages"][i30] == 1,
          "a: 600 s down on the day 30 days ago, one outage")
    check(abs(a["days"]["availability"][i30] - (1 - 600 / DAY)) < 1e-9,
          "a: that day's availability")
    check(all(abs(c - 1) < 1e-9 for i, c in enumerate(a["days"]["coverage"])
              if i not in (gi, 89)), "every other past day fully observed")
    check(abs(a["days"]["coverage"][89] - 1) < 1e-9, "today observed so far")
    check(a["reliability"]["failures"] == 3 and a["reliability"]["repairs"] == 3,
          "a: three failures and repairs over 90 days")
    check(abs(a["reliability"]["mttr_s"]["estimate"] - 320) < 1e-6,
          "a: MTTR (600 + 300 + 60) / 3")
    lo, hi = a["reliability"]["mttr_s"]["ci95"]
    check(lo < 320 < hi, "a: MTTR interval around it")
    check(a["availability"]["24h"] == 1 and a["availability"]["7d"] < 1,
          "a: 24 h clean, 7 d not")
    check(a["streak_s"] > 4 * DAY, "a: streak since its last repair")
    check(a["state"] == "unknown" and a["since"] is None, "imported targets: state unknown")
    # Incidents: what /outages says, newest first.
    st, o = emp.get("/api/v1/targets/a/outages?from=%d&to=%d" % (now - 91 * DAY, now + 60))
    want = [(x["start"], x["end"], x["cause"]["class"]) for x in o["outages"]]
    got = [(x["start"], x["end"], x["cause"]["class"]) for x in a["incidents"]]
    check(got == want, "a: incidents match /outages")
    check(by["c"]["incidents"][0]["cause"]["message"] == "auth", "c: its cause")
    groups = {g["name"]: g for g in s["groups"]}
    check(sorted(groups) == ["db", "web"], "both groups summarised")
    w = groups["web"]
    check(w["members"] == ["a", "b"] and w["bursts"] == 1, "web: one burst of a and b")
    check(w["all_down_observed"] > 0 and w["all_down_independent"] > 0,
          "web: all-down observed and independent")
    st, g = emp.get("/api/v1/status?group=db")
    check(st == 200 and [t["name"] for t in g["targets"]] == ["c"], "?group= filters")
    st, _ = emp.get("/api/v1/status?group=nope")
    check(st == 404, "?group= unknown: 404")


def static(emp):
    st, h, body = raw_get(emp.port, "/")
    check(st == 200 and h["content-type"].startswith("text/html") and b"<title>" in body,
          "/ serves index.html as HTML")
    check("default-src 'none'" in h.get("content-security-policy", ""),
          "a CSP keeps the page on this host")
    st, h, body = raw_get(emp.port, "/static/app.js")
    check(st == 200 and h["content-type"].startswith("text/javascript") and body == b"1;",
          "/static/app.js as JavaScript")
    st, _, body = raw_get(emp.port, "/static/alias.js")
    check(st == 200 and body == b"1;", "a symlink inside the web directory is served")
    for bad in ["/static/../secret.txt", "/static/%2e%2e/secret.txt",
                "/static/%2E%2E/%2e%2e/etc/passwd", "/static/evil.css", "/static/",
                "/static/./app.js", "/static//app.js", "/static/nope.js",
                "/static/..%2fsecret.txt", "/secret.txt"]:
        st, _, body = raw_get(emp.port, bad)
        check(st == 404 and b"outside" not in body and b"not under" not in body,
              "refused: %s" % bad)
    c = http.client.HTTPConnection("127.0.0.1", emp.port, timeout=10)
    c.request("POST", "/static/app.js", body=b"")
    r = c.getresponse()
    body = r.read()
    check(r.status == 405 and "GET" in (r.getheader("Allow") or ""), "POST: 405 with Allow")
    check(strict_json(body)["error"]["code"] == "method_not_allowed",
          "and a JSON error, as every reply")
    c.close()


if __name__ == "__main__":
    main()
