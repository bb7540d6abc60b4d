"""A network of the test's own, made of Linux network namespaces, for the
end-to-end tests that need several vantage points (root and `ip netns`).

    with Network(["T", "A", "B", "C"]) as net:
        pg = PrivatePostgres(listen=[net.cidr])      # reachable from every namespace
        net.run("A", ["curl", "http://%s:8080/" % net.addr("T")])
        net.cut("A")       # A reaches nothing, nothing reaches A
        net.restore("A")

Every namespace has a veth pair whose other end is a port of a bridge in the
root namespace, all on one private /24 (10.213.X.0/24, X picked under a lock
among the blocks no interface of the root namespace uses): the bridge has
.1 (`net.root`), the namespaces .10, .11, ... in the order named. One L2
segment, so no forwarding is needed and no sysctl is touched; there is no
default route, so a namespace reaches the root namespace and the others and
nothing else. Loopback is up in each namespace.

What a Network made is taken down however the test ends: on leaving the
`with` block (also by an exception), at exit (atexit), and on SIGTERM or
SIGHUP (turned into SystemExit when the test has no handler of its own):
every process started with run() and every other process left inside its
namespaces is killed, its veths, bridge and namespaces deleted. What a
crashed run (SIGKILL) left is deleted by the next Network made on this
machine: names carry the pid of their maker (namespaces `empns-PID-N-NAME`,
interfaces `empvPID.K` and `empbPID.K`), and those of a pid that no longer
exists are swept.

Python 3 standard library only."""

import atexit
import fcntl
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

NS_PREFIX = "empns-"
NS_RE = re.compile(r"^empns-(\d+)-")
LINK_RE = re.compile(r"^emp[bv](\d+)\.\d+$")
LOCK_PATH = "/run/empiric-netns.lock"
NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,32}$")
FIRST_HOST = 10  # namespaces get .10, .11, ...

_counter = itertools.count(1)


class NetnsError(RuntimeError):
    pass


def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise NetnsError("ip %s: %s" % (" ".join(args), (r.stderr or r.stdout).strip()))
    return r


def skip(reason):
    print("SKIP: " + reason, flush=True)
    sys.exit(77)


def require():
    """Exit 77 (skipped) with the reason unless this process can build
    namespaces: root, iproute2's `ip`, and a kernel that lets us make a
    namespace and a veth pair into it."""
    if os.geteuid() != 0:
        skip("network namespaces need root (running as uid %d)" % os.geteuid())
    if shutil.which("ip") is None:
        skip("`ip` is not installed (Debian package iproute2; scripts/test installs it)")
    r = _ip("netns", "list", check=False)
    if r.returncode != 0:
        skip("`ip netns` does not work here: %s" % r.stderr.strip())
    name = "%s%d-probe" % (NS_PREFIX, os.getpid())
    veth = "empv%d.0" % os.getpid()
    r = _ip("netns", "add", name, check=False)
    if r.returncode != 0:
        skip("`ip netns add` is not allowed here: %s" % r.stderr.strip())
    try:
        r = _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name,
                check=False)
        if r.returncode != 0:
            skip("no veth pairs here (`ip link add ... type veth`): %s" % r.stderr.strip())
    finally:
        _ip("link", "del", veth, check=False)
        _ip("netns", "del", name, check=False)


def _pid_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_inside(ns):
    """SIGKILL every process whose network namespace is `ns`; bounded."""
    for _ in range(50):
        r = _ip("netns", "pids", ns, check=False)
        pids = [int(p) for p in r.stdout.split()] if r.returncode == 0 else []
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def namespaces():
    """Names of the named network namespaces."""
    r = _ip("netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def links():
    """Names of the root namespace's network interfaces."""
    r = _ip("-o", "link", "show", check=False)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            out.append(parts[1].strip().split("@")[0])
    return out


def sweep():
    """Delete what a Network of a process that no longer exists left."""
    stale_ns = [n for n in namespaces()
                if NS_RE.match(n) and not _pid_alive(int(NS_RE.match(n).group(1)))]
    for ns in stale_ns:
        _kill_inside(ns)
    # Veths before bridges; a veth's other end goes with it.
    for link in sorted((l for l in links() if LINK_RE.match(l)), key=lambda l: l[3] != "v"):
        if not _pid_alive(int(LINK_RE.match(link).group(1))):
            _ip("link", "del", link, check=False)
    for ns in stale_ns:
        _ip("netns", "del", ns, check=False)
        print("note: deleted network namespace %s left by a crashed run" % ns, flush=True)


def _used_blocks():
    r = _ip("-o", "-4", "addr", "show", check=False)
    used = set()
    for m in re.finditer(r"inet 10\.213\.(\d+)\.", r.stdout):
        used.add(int(m.group(1)))
    return used


class Network:
    """Namespaces named by the test (letters, digits, '_'), each with a veth
    to one bridge in the root namespace; see the module's description."""

    def __init__(self, names):
        names = list(names)
        if not names or len(set(names)) != len(names):
            raise NetnsError("namespace names must be given, each once: %r" % (names,))
        for n in names:
            if not NAME_RE.match(n):
                raise NetnsError("namespace name %r: expected [A-Za-z0-9_], 1 to 32 long" % n)
        pid = os.getpid()
        serial = next(_counter)
        self.names = names
        self.tag = "%s%d-%d-" % (NS_PREFIX, pid, serial)
        self.ns = {n: self.tag + n for n in names}
        self.bridge = "empb%d.%d" % (pid, serial)
        self.veth = {n: "empv%d.%d" % (pid, next(_counter)) for n in names}
        self.procs = []
        self.closed = False
        self._made_ns = []
        self._made_links = []
        self.block = None
        sweep()
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                if signal.getsignal(sig) == signal.SIG_DFL:
                    signal.signal(sig, _exit_on_signal)
            except ValueError:  # not the main thread: atexit and close() remain
                pass
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # -- building --------------------------------------------------------

    def _build(self):
        with open(LOCK_PATH, "a") as lock:
            # Two tests at once must not pick the same block.
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = _used_blocks()
            free = [b for b in range(1, 255) if b not in used]
            if not free:
                raise NetnsError("every block 10.213.1-254.0/24 is in use")
            start = os.getpid() % len(free)
            self.block = free[start]
            _ip("link", "add", self.bridge, "type", "bridge", "stp_state", "0",
                "forward_delay", "0")
            self._made_links.append(self.bridge)
            _ip("addr", "add", self.cidr, "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        for n in self.names:
            ns, veth = self.ns[n], self.veth[n]
            _ip("netns", "add", ns)
            self._made_ns.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            self._made_links.insert(0, veth)
            _ip("link", "set", veth, "master", self.bridge)
            _ip("link", "set", veth, "up")
            _ip("-n", ns, "addr", "add", "%s/24" % self.addr(n), "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    # -- addresses -------------------------------------------------------

    @property
    def root(self):
        """The root namespace's address on the test network."""
        return "10.213.%d.1" % self.block

    @property
    def cidr(self):
        """The root namespace's address with the network's prefix length
        (what PrivatePostgres(listen=[...]) takes)."""
        return self.root + "/24"

    @property
    def subnet(self):
        return "10.213.%d.0/24" % self.block

    def addr(self, name):
        """The address of namespace `name`."""
        return "10.213.%d.%d" % (self.block, FIRST_HOST + self.names.index(name))

    # -- using -----------------------------------------------------------

    def run(self, name, argv, **popen_kwargs):
        """subprocess.Popen of argv inside namespace `name`. `ip netns exec`
        execs argv, so the Popen's pid is argv's own. Killed at close."""
        if self.closed:
            raise NetnsError("the network is closed")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[name]] + list(argv),
                             **popen_kwargs)
        self.procs.append(p)
        return p

    def cut(self, name):
        """Take namespace `name`'s link down, both ends: from the next packet
        on it reaches nothing and nothing reaches it (its connections fail
        with "network unreachable" at once). Returns the wall time at which
        the link went down."""
        _ip("-n", self.ns[name], "link", "set", "eth0", "down")
        t = time.time()
        _ip("link", "set", self.veth[name], "down")
        return t

    def restore(self, name):
        """Both ends of `name`'s link up again; returns the wall time at
        which the link was whole again."""
        _ip("link", "set", self.veth[name], "up")
        _ip("-n", self.ns[name], "link", "set", "eth0", "up")
        return time.time()

    # -- taking down -----------------------------------------------------

    def close(self):
        """Kill every process started here or left inside the namespaces,
        delete the veths, the bridge and the namespaces. Idempotent;
        problems are printed, not raised (the test's own failure, if any,
        is the one to see), and the test checks the result."""
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self.close)
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.kill()
                    p.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired) as e:
                    print("note: could not kill pid %d: %s" % (p.pid, e), flush=True)
        for ns in self._made_ns:
            _kill_inside(ns)
        for link in self._made_links:
            r = _ip("link", "del", link, check=False)
            if r.returncode != 0 and link in links():
                print("note: could not delete %s: %s" % (link, r.stderr.strip()), flush=True)
        for ns in self._made_ns:
            r = _ip("netns", "del", ns, check=False)
            if r.returncode != 0 and ns in namespaces():
                print("note: could not delete %s: %s" % (ns, r.stderr.strip()), flush=True)

    def leftovers(self):
        """What of this network is still there (namespaces, interfaces)."""
        mine = set(self.ns.values()) | set(self.veth.values()) | {self.bridge}
        return sorted(mine & (set(namespaces()) | set(links())))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


# -- things the tests run inside namespaces ------------------------------

class HttpTarget:
    """A plain HTTP server (python -m http.server) in namespace `name` on
    port `port` of its address, serving 200 for GET /health. stop() kills
    it (connections refused from then on), start() runs it again; both
    return the wall time at which the change took effect."""

    def __init__(self, net, name, port=8080):
        self.net = net
        self.name = name
        self.port = port
        self.host = net.addr(name)
        self.dir = tempfile.mkdtemp(prefix="empiric-netns-web-")
        with open(os.path.join(self.dir, "health"), "w") as f:
            f.write("ok\n")
        self.url = "http://%s:%d/health" % (self.host, port)
        self.proc = None
        self.start()

    def start(self, timeout=10):
        self.proc = self.net.run(self.name, [sys.executable, "-m", "http.server", "--bind",
                                             self.host, "--directory", self.dir,
                                             str(self.port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise NetnsError("http.server in %s exited with %d" %
                                 (self.name, self.proc.returncode))
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return time.time()
            except OSError:
                time.sleep(0.02)
        raise NetnsError("http.server in %s did not listen within %d s" % (self.name, timeout))

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        return time.time()

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# Run inside a namespace by reach(): one HTTP GET and one PostgreSQL
# handshake (an SSLRequest, answered 'S' or 'N' by any PostgreSQL), each
# with its own timeout; prints {"http": ..., "pg": ...}, true or the error.
_REACH = r"""
import json, socket, struct, sys, urllib.request
url, host, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
out = {}
try:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        out["http"] = r.status == 200 or "status %d" % r.status
except Exception as e:
    out["http"] = "%s: %s" % (type(e).__name__, e)
try:
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack("!ii", 8, 80877103))
        b = s.recv(1)
        out["pg"] = b in (b"S", b"N") or "answer %r" % b
except Exception as e:
    out["pg"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
"""


def reach(net, name, url, pg_host, pg_port, timeout=1.0):
    """From namespace `name`: {"http": True or why not, "pg": True or why
    not}, the HTTP GET of `url` and a PostgreSQL handshake with
    pg_host:pg_port, each given `timeout` seconds."""
    p = net.run(name, [sys.executable, "-c", _REACH, url, pg_host, str(pg_port), str(timeout)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=30)
    if p.returncode != 0:
        raise NetnsError("reach from %s failed (%d): %s" % (name, p.returncode, err.strip()))
    return json.loads(out)
