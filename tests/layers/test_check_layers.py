"""scripts/check-layers against copies of the tree: the real tree passes,
and each kind of forbidden include added to a copy fails the check with the
file and line named."""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECK = os.path.join(ROOT, "scripts", "check-layers")
failures = 0


def check(cond, what):
    global failures
    print("%s %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        failures += 1


def copy_tree(dst):
    for top in ("server", "probes", "tests", "scripts"):
        shutil.copytree(os.path.join(ROOT, top), os.path.join(dst, top),
                        ignore=shutil.ignore_patterns("corpus", "regressions", "data", "*.json",
                                                      "*.xz", "*.txt", "*.inc"))


def run(root):
    p = subprocess.run([sys.executable, CHECK, root], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def append(root, rel, text):
    path = os.path.join(root, rel)
    with open(path) as f:
        n = sum(1 for _ in f)
    with open(path, "a") as f:
        f.write(text)
    return n + 1  # the line the text starts on


def case(name, rel, text, expect):
    with tempfile.TemporaryDirectory(prefix="empiric-layers-") as d:
        copy_tree(d)
        line = append(d, rel, text)
        rc, out = run(d)
        check(rc == 1, "%s: the check fails (exit %d)" % (name, rc))
        where = "%s:%d:" % (rel, line)
        check(where in out, "%s: it names %s" % (name, where))
        check(expect in out, "%s: it says %r" % (name, expect))
        if rc != 1 or where not in out or expect not in out:
            print(out)


def main():
    rc, out = run(ROOT)
    check(rc == 0, "the repository's own tree passes")
    if rc != 0:
        print(out)
    with tempfile.TemporaryDirectory(prefix="empiric-layers-") as d:
        copy_tree(d)
        rc, out = run(d)
        check(rc == 0, "an unchanged copy passes")
    case("analysis -> store", "server/analysis/uptime.c", '#include "store/db.h"\n',
         "analysis may not include store")
    case("store -> analysis", "server/store/history.c", '#include "analysis/stats.h"\n',
         "store may not include analysis")
    case("probes -> store", "probes/prober.c", '#include "store/db.h"\n',
         "probes may not include store")
    case("probes -> api", "probes/loop.c", '#include "api/api.h"\n',
         "probes may not include api")
    case("core -> config", "server/core/log.c", '#include "config/config.h"\n',
         "core may not include config")
    case("probes -> the writer", "probes/prober.c", '#include "ingest/writer.h"\n',
         "only through its queue")
    case("a climbing include", "server/api/groups.c", '#include "../store/db.h"\n',
         'never "../"')
    case("no folder", "server/ingest/writer.c", '#include "db.h"\n',
         "name the layer folder")
    case("a handler -> the router", "server/api/groups.c", '#include "api/api.h"\n',
         "only the router")
    case("the reply helpers -> the handlers", "server/api/reply.c",
         '#include "api/handlers.h"\n', "the reply helpers may not use the handlers")
    # (spelled in two pieces, so that this file does not read ../ + shared)
    case("a test reading the shared folder", "tests/e2e/harness.py",
         'DATA = "../' 'shared/data/x.csv"\n', "reads ../" "shared")
    case("libpq outside the store", "server/config/config.c", "#include <libpq-fe.h>\n",
         "only store/ and probes/ speak to PostgreSQL")
    case("libmicrohttpd outside the API", "server/service/report.c",
         "#include <microhttpd.h>\n", "only api/ speaks HTTP")
    with tempfile.TemporaryDirectory(prefix="empiric-layers-") as d:
        copy_tree(d)
        with open(os.path.join(d, "server", "stray.c"), "w") as f:
            f.write("int stray;\n")
        rc, out = run(d)
        check(rc == 1 and "server/stray.c:1: not in a layer folder" in out,
              "a source file directly in server/ fails the check")
    print("%d failure%s" % (failures, "" if failures == 1 else "s"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
