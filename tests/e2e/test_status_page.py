"""The status page in a real browser: headless Debian Chromium against a
server with seeded history (imported outages, one day's coverage cut out).
The page must show every target with 90 bars, the grey day, an incident
list matching the API, and log no console error. A screenshot is kept
(path printed). Chromium missing is a failure, not a skip."""

import os
import re
import shutil
import subprocess
import tempfile
import time
from html.parser import HTMLParser

from harness import Database, Empiric, check, fail, parse_args
from status_seed import DAY, crafted, midnight, seed

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-extensions",
                  "--disable-default-apps", "--hide-scrollbars", "--mute-audio"]


def chromium():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    fail("chromium is not installed (apt-get install chromium; scripts/test installs it)")


def run_chromium(url, extra, budget_ms=8000, timeout=120):
    """Run headless Chromium on `url`; returns (stdout, stderr)."""
    prof = tempfile.mkdtemp(prefix="empiric-chromium-")
    try:
        cmd = [chromium()] + CHROMIUM_FLAGS + ["--user-data-dir=" + prof,
                                               "--virtual-time-budget=%d" % budget_ms,
                                               "--enable-logging=stderr", "--v=0"] + extra + [url]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return r.stdout, r.stderr
    finally:
        shutil.rmtree(prof, ignore_errors=True)


def console_errors(stderr):
    """Console messages and failed loads Chromium logged for the page."""
    bad = []
    for line in stderr.splitlines():
        if "CONSOLE" in line or "Uncaught" in line or "Content Security Policy" in line \
                or "Failed to load resource" in line:
            bad.append(line)
    return bad


class Dom(HTMLParser):
    """What the test reads off the rendered DOM."""

    def __init__(self):
        super().__init__()
        self.targets = []        # names of <article class="target">
        self.bars = {}           # target -> list of data-kind
        self.incidents = {}      # target -> list of row cell texts
        self.root = {}
        self._cur = None
        self._in_inc = False
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.root = a
        if tag == "article" and "target" in (a.get("class") or ""):
            self._cur = a.get("data-name")
            self.targets.append(self._cur)
            self.bars[self._cur] = []
            self.incidents[self._cur] = []
        if tag == "rect" and "data-kind" in a and self._cur is not None:
            self.bars[self._cur].append(a["data-kind"])
        if tag == "table" and "incidents" in (a.get("class") or ""):
            self._in_inc = True
        if self._in_inc and tag == "tr":
            self._row = []
        if self._in_inc and tag == "td":
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_inc = False
        if tag == "td" and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        if tag == "tr" and self._row:
            self.incidents[self._cur].append(self._row)
            self._row = None
        if tag == "article":
            self._cur = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def when(iso):
    if iso is None:
        return "ongoing"
    return re.sub(r"\.\d+", "", iso).replace("T", " ").replace("Z", " UTC")


def main():
    args = parse_args()
    chromium()
    db = Database(args.empiric, args.schema)
    rows, names = crafted(int(time.time()))
    now, grey = seed(args.empiric, db, rows, names)
    emp = Empiric(args.empiric, db, [])
    try:
        emp.start()
        run(emp, now, grey)
    finally:
        emp.stop()
        db.drop()


def run(emp, now, grey):
    url = "http://127.0.0.1:%d/" % emp.port
    st, api = emp.get("/api/v1/status")
    check(st == 200, "status API answers")
    out, err = run_chromium(url, ["--dump-dom"])
    dom = Dom()
    dom.feed(out)
    check(dom.root.get("data-ready") == "1", "the page rendered (data-ready set)")
    check(sorted(dom.targets) == sorted(t["name"] for t in api["targets"]),
          "the page shows every target: %s" % dom.targets)
    check(all(len(b) == 90 for b in dom.bars.values()), "90 bars for each target")
    gi = 89 - (midnight(now) - grey) // DAY
    check(all(b[gi] == "grey" for b in dom.bars.values()), "the cut-out day is grey")
    check(all(b.count("grey") == 1 for b in dom.bars.values()),
          "no other day grey (all observed)")
    check("ok" in dom.bars["a"] and any(k in ("minor", "warn", "bad") for k in dom.bars["a"]),
          "a: clean days green, outage days coloured")
    for t in api["targets"]:
        want = [[when(x["start"]), when(x["end"])] for x in t["incidents"]]
        got = [row[:2] for row in dom.incidents[t["name"]]]
        check(got == want, "%s: incident list matches the API (%d)" % (t["name"], len(want)))
    errs = console_errors(err)
    for e in errs:
        print("console:", e)
    check(not errs, "no console errors")
    shot_dir = os.environ.get("EMPIRIC_ARTIFACTS") or tempfile.mkdtemp(prefix="empiric-shot-")
    os.makedirs(shot_dir, exist_ok=True)
    for name, size in (("status-page.png", "1280,1600"), ("status-page-phone.png", "390,1600")):
        path = os.path.join(shot_dir, name)
        run_chromium(url, ["--screenshot=" + path, "--window-size=" + size])
        check(os.path.exists(path) and os.path.getsize(path) > 1000,
              "screenshot saved: %s" % path)


if __name__ == "__main__":
    main()
