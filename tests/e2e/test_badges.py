"""End to end: the SVG badges and the OpenAPI description against a served
healthy target, a failing one and an old imported history. Status codes,
content type, cache headers, texts and colors; 404 for an unknown target,
400 for a bad window; every SVG parses as XML. /api/v1/openapi.json is
server/api/openapi.json byte for byte, and every path it describes is served."""

import datetime
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

from harness import Database, Empiric, FaultTarget, check, fail, parse_args

SVG_NS = "{http://www.w3.org/2000/svg}"
BRIGHTGREEN, RED, GREY = "#4c1", "#e05d44", "#9f9f9f"


def fetch(emp, path):
    """(status, headers, body bytes)."""
    url = "http://127.0.0.1:%d%s" % (emp.port, path)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def badge(emp, path):
    """(label, value, value color) of a badge that must be served well."""
    st, h, body = fetch(emp, path)
    if st != 200:
        fail("GET %s: %d %s" % (path, st, body[:300]))
    check(h.get("Content-Type") == "image/svg+xml", "%s: Content-Type image/svg+xml" % path)
    check(h.get("Cache-Control") == "no-cache, max-age=0", "%s: Cache-Control no-cache" % path)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        fail("%s: not XML (%s): %s" % (path, e, body[:500]))
    check(root.tag == SVG_NS + "svg", "%s: parses as XML, an <svg> root" % path)
    texts = [t.text for t in root.iter(SVG_NS + "text") if t.get("aria-hidden") != "true"]
    rects = root.findall("./%sg/%srect" % (SVG_NS, SVG_NS))
    width = int(root.get("width"))
    check(len(texts) == 2 and len(rects) == 3, "%s: two texts on two parts" % path)
    lw, vw = int(rects[0].get("width")), int(rects[1].get("width"))
    check(lw + vw == width and int(rects[1].get("x")) == lw, "%s: parts add up to %d px" %
          (path, width))
    for t, w in zip([t for t in root.iter(SVG_NS + "text") if t.get("aria-hidden") != "true"],
                    (lw, vw)):
        check(int(t.get("textLength")) < w, "%s: text %r fits its part" % (path, t.text))
    check(root.find(SVG_NS + "title").text == "%s: %s" % tuple(texts), "%s: title" % path)
    return texts[0], texts[1], rects[1].get("fill")


def error(emp, path, status, code):
    st, h, body = fetch(emp, path)
    if st != status:
        fail("GET %s: expected %d, got %d %s" % (path, status, st, body[:300]))
    check(h.get("Content-Type", "").startswith("application/json"), "%s: a JSON error" % path)
    check(json.loads(body)["error"]["code"] == code, "%s: %d %s" % (path, status, code))


def main():
    args = parse_args()
    db = Database(args.empiric, args.schema)
    healthy = FaultTarget()
    failing = FaultTarget()
    failing.set("500")
    # History 200 days old: nothing observed in the last 30 days.
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=200)
    d = tempfile.mkdtemp(prefix="empiric-badges-")
    csv = os.path.join(d, "history.csv")
    with open(csv, "w") as f:
        f.write("target,start,end,cause\nold,%s,%s,test\n" % (
            old.strftime("%Y-%m-%dT%H:%M:%SZ"),
            (old + datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")))
    r = subprocess.run([args.empiric, "--db", db.conninfo, "import", csv],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
    check(r.returncode == 0, "import of an old history")
    common = {"interval_ms": 200, "timeout_ms": 150, "fail_threshold": 2,
              "recover_threshold": 1, "group": "e2e"}
    targets = [
        dict(name="healthy", kind="http", url="http://127.0.0.1:%d/" % healthy.port, **common),
        dict(name="failing", kind="http", url="http://127.0.0.1:%d/" % failing.port, **common),
    ]
    sla = {"slas": [{"name": "gold", "objective": 99.0, "period": "day", "groups": ["e2e"]}]}
    emp = Empiric(args.empiric, db, targets, extra=sla)
    try:
        emp.start()
        time.sleep(3.0)  # probes, the outage opened, the writer flushed
        run(emp, args)
        check(emp.stop() == 0, "empiric stops cleanly (exit 0, nothing leaked)")
    finally:
        emp.stop()
        healthy.close()
        failing.close()
        db.drop()


def run(emp, args):
    # Uptime badges.
    label, value, color = badge(emp, "/badge/healthy.svg")
    check((label, value, color) == ("uptime 30d", "100%", BRIGHTGREEN),
          "healthy: uptime 30d | 100%%, bright green (got %s | %s %s)" % (label, value, color))
    label, value, color = badge(emp, "/badge/failing.svg?window=24h")
    print("failing:", label, value, color)
    check(label == "uptime 24h" and re.fullmatch(r"\d+\.\d\d%", value) and
          float(value[:-1]) < 95 and color == RED, "failing: uptime 24h, under 95%%, red (%s)" % value)
    label, value, color = badge(emp, "/badge/old.svg")
    check((value, color) == ("unknown", GREY), "old history: unknown and grey over 30 days")
    label, value, color = badge(emp, "/badge/old.svg?window=365d")
    check(label == "uptime 365d" and color == RED and value == "0.00%",
          "old history over a year: its one observed outage, red (%s)" % value)
    for w in ("1h", "7d", "90d"):
        check(badge(emp, "/badge/healthy.svg?window=" + w)[0] == "uptime " + w,
              "window %s in the label" % w)

    # State badges.
    check(badge(emp, "/badge/healthy/state.svg") == ("healthy", "up", BRIGHTGREEN),
          "healthy: state up, green")
    check(badge(emp, "/badge/failing/state.svg") == ("failing", "down", RED),
          "failing: state down, red")
    check(badge(emp, "/badge/old/state.svg") == ("old", "unknown", GREY),
          "old history: state unknown, grey")

    # Errors.
    for p in ("/badge/nope.svg", "/badge/nope/state.svg", "/badge/nope.svg?window=7d"):
        error(emp, p, 404, "not_found")
    for w in ("30", "0d", "1w", "abc", "-1d", "3651d"):
        error(emp, "/badge/healthy.svg?window=" + w, 400, "bad_request")
    req = urllib.request.Request("http://127.0.0.1:%d/badge/healthy.svg" % emp.port,
                                 method="POST", data=b"")
    try:
        urllib.request.urlopen(req, timeout=10)
        fail("POST /badge/healthy.svg was accepted")
    except urllib.error.HTTPError as e:
        check(e.code == 405 and e.headers.get("Allow") == "GET, HEAD", "POST: 405, Allow GET, HEAD")

    # OpenAPI: what the repository holds, and every path served.
    st, h, body = fetch(emp, "/api/v1/openapi.json")
    check(st == 200 and h.get("Content-Type") == "application/json; charset=utf-8",
          "GET /api/v1/openapi.json: 200 JSON")
    src = os.path.join(os.path.dirname(os.path.abspath(args.schema)), "server", "api", "openapi.json")
    with open(src, "rb") as f:
        check(body == f.read(), "served byte for byte as server/api/openapi.json")
    doc = json.loads(body)
    try:
        from openapi_spec_validator import validate
    except ImportError:
        print("note: openapi-spec-validator is not installed; structural checks only")
    else:
        validate(doc)
        check(True, "openapi-spec-validator accepts the document")
    try:
        from openapi_schema_validator import OAS30Validator
    except ImportError:
        OAS30Validator = None
        print("note: openapi-schema-validator is not installed; replies not checked")
    for path, item in doc["paths"].items():
        if "{path}" in path:
            continue
        for name in ("healthy", "failing") if "{name}" in path else (None,):
            p = path.replace("{name}", name or "").replace("{group}", "e2e")
            st, h, b = fetch(emp, p)
            routed = not (st == 404 and b'"no such resource"' in b) and st != 405
            check(routed and st in (200, 404), "described %s is served (%d)" % (p, st))
            content = item["get"]["responses"][str(st)]
            if "$ref" in content:
                content = resolve(doc, content["$ref"])
            media = content["content"]
            if "application/json" not in media or OAS30Validator is None:
                continue
            ct = h.get("Content-Type", "")
            check(ct.startswith("application/json"), "%s: JSON, as described" % p)
            schema = strict(media["application/json"]["schema"], doc)
            errors = list(OAS30Validator(schema).iter_errors(json.loads(b)))
            for e in errors[:5]:
                print("  %s at %s" % (e.message, "/".join(str(x) for x in e.absolute_path)))
            check(not errors, "%s: the %d reply has exactly the described keys and types" %
                  (p, st))


def resolve(doc, ref):
    node = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def strict(schema, doc):
    """`schema` with $refs inlined, allOf merged, and objects closed
    (additionalProperties false unless given), so that a reply must carry
    the described keys and no others."""
    if isinstance(schema, list):
        return [strict(x, doc) for x in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return strict(resolve(doc, schema["$ref"]), doc)
    s = {}
    for k, v in schema.items():
        if k == "properties":
            s[k] = {name: strict(sub, doc) for name, sub in v.items()}
        else:
            s[k] = strict(v, doc)
    if "allOf" in s:
        parts = s.pop("allOf")
        s.update(type="object", properties={}, required=[])
        for sub in parts:
            s["properties"].update(sub.get("properties", {}))
            s["required"] += sub.get("required", [])
    if s.get("type") == "object" and "properties" in s and "additionalProperties" not in s:
        s["additionalProperties"] = False
    return s


if __name__ == "__main__":
    main()
