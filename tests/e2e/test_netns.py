"""The network-namespace harness (netns.py) itself: a target namespace and
three prober namespaces reach an HTTP server in the target namespace and a
PostgreSQL of the root namespace; a cut namespace reaches neither within a
second while the others still do, and reaches both again once restored;
every namespace, veth, bridge and process is gone after the network is
closed: on leaving the `with` block, by an exception inside it, at exit
without close, on SIGTERM; and what a SIGKILLed run left is swept by the
next one. Needs root; exits 77 otherwise."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import netns
from harness import PrivatePostgres, check, fail, parse_args, psql

HERE = os.path.dirname(os.path.abspath(__file__))
PROBERS = ["A", "B", "C"]


def reach(net, name, web, pg, timeout=1.0):
    return netns.reach(net, name, web.url, net.root, pg.port, timeout=timeout)


def reaches_both(r):
    return r["http"] is True and r["pg"] is True


def reaches_neither(r):
    return r["http"] is not True and r["pg"] is not True


def gone(names, what):
    left = sorted(set(names) & (set(netns.namespaces()) | set(netns.links())))
    check(not left, "%s: nothing of the network is left (left: %s)" % (what, left))


def main():
    parse_args()
    netns.require()
    check_network()
    check_exception_path()
    check_exit_paths()
    check_sweep()


def check_network():
    with netns.Network(["T"] + PROBERS) as net:
        names = list(net.ns.values()) + list(net.veth.values()) + [net.bridge]
        check(set(net.ns.values()) <= set(netns.namespaces()),
              "the four namespaces exist: %s" % sorted(net.ns.values()))
        check(net.veth["A"] in netns.links() and net.bridge in netns.links(),
              "the veths and the bridge are in the root namespace")
        addrs = [net.addr(n) for n in ["T"] + PROBERS]
        check(len(set(addrs)) == 4 and all(a.startswith(net.subnet.rsplit(".", 1)[0] + ".")
                                           for a in addrs),
              "each namespace has its own address in %s: %s" % (net.subnet, addrs))
        for n in ["T"] + PROBERS:
            out = subprocess.run(["ip", "-n", net.ns[n], "-o", "link", "show", "lo"],
                                 capture_output=True, text=True, timeout=10).stdout
            check("UP" in out.split(">")[0], "loopback is up in %s" % n)
        pg = PrivatePostgres(listen=[net.cidr])
        web = None
        try:
            web = netns.HttpTarget(net, "T")
            procs = [web.proc]
            run_checks(net, web, pg)
        finally:
            pg.destroy()
            if web is not None:
                web.close()
    check(all(p.poll() is not None for p in procs), "the server in T is dead after close")
    gone(names, "after the with block")


def run_checks(net, web, pg):
    for n in PROBERS:
        r = reach(net, n, web, pg)
        check(reaches_both(r), "%s reaches the HTTP server in T and PostgreSQL (%s)" % (n, r))
        conninfo = "host=%s port=%d user=postgres dbname=postgres connect_timeout=5" % (
            net.root, pg.port)
        p = net.run(n, ["psql", conninfo, "-XtAc", "SELECT inet_client_addr()"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=30)
        check(p.returncode == 0 and out.strip() == net.addr(n),
              "psql from %s runs a query, seen from %s (%r %r)" % (n, net.addr(n), out, err))
    check(psql(pg.conninfo, "SELECT 1") == "1", "PostgreSQL still answers on 127.0.0.1")
    # run() really runs inside the namespace: A's loopback is not T's.
    r = netns.reach(net, "A", "http://127.0.0.1:%d/health" % web.port, "127.0.0.1", pg.port)
    check(reaches_neither(r), "A's 127.0.0.1 is its own: neither server there (%s)" % r)

    t_cut = net.cut("A")
    r = reach(net, "A", web, pg)
    took = time.time() - t_cut
    check(reaches_neither(r) and took < 1.0,
          "cut A: A reaches neither within a second (%.2f s: %s)" % (took, r))
    for n in ("B", "C"):
        check(reaches_both(reach(net, n, web, pg)), "cut A: %s still reaches both" % n)
    try:
        socket.create_connection((net.addr("A"), 9), timeout=1).close()
        fail("cut A: the root namespace still reaches A")
    except OSError as e:
        check(True, "cut A: the root namespace does not reach A (%s)" % e)

    net.restore("A")
    deadline = time.time() + 3
    r = reach(net, "A", web, pg)
    while not reaches_both(r) and time.time() < deadline:
        time.sleep(0.1)
        r = reach(net, "A", web, pg)
    check(reaches_both(r), "restore A: A reaches both again within 3 s (%s)" % r)

    t_stop = web.stop()
    r = reach(net, "B", web, pg)
    check(r["http"] is not True and r["pg"] is True,
          "the server in T stopped: B is refused HTTP, still reaches PostgreSQL (%s)" % r)
    web.start()
    check(time.time() - t_stop < 10 and reaches_both(reach(net, "B", web, pg)),
          "the server in T started again: B reaches it")


class Boom(Exception):
    pass


def check_exception_path():
    net = None
    try:
        with netns.Network(["X", "Y"]) as net:
            sleeper = net.run("X", ["sleep", "600"])
            # A process of the namespace that run() did not start itself.
            subprocess.run(["ip", "netns", "exec", net.ns["Y"], "sh", "-c",
                            "sleep 600 >/dev/null 2>&1 &"], check=True, timeout=10)
            names = list(net.ns.values()) + list(net.veth.values()) + [net.bridge]
            check(net.leftovers() == sorted(names), "the network exists inside the block")
            others = pids_in(net.ns["Y"])
            check(len(others) == 1, "a process started apart runs in Y (%s)" % others)
            raise Boom()
    except Boom:
        pass
    check(net is not None and sleeper.poll() is not None,
          "an exception inside the block: the process started by run() is dead")
    check(not any(alive(pid) for pid in others), "and so is the one it did not start")
    gone(names, "an exception inside the block")


def pids_in(ns):
    r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10)
    return [int(p) for p in r.stdout.split()]


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# A child that builds a network, starts a process in it, prints the names
# it made and then ends as argv[1] says: "exit" (sys.exit, no close: atexit
# must clean), "wait" (until a signal).
CHILD = r"""
import json, sys, time
sys.path.insert(0, %r)
import netns
net = netns.Network(["P", "Q"])
net.run("P", ["sleep", "600"])
print(json.dumps(list(net.ns.values()) + list(net.veth.values()) + [net.bridge]), flush=True)
if sys.argv[1] == "exit":
    sys.exit(3)
time.sleep(600)
""" % HERE


def child(how):
    p = subprocess.Popen([sys.executable, "-c", CHILD, how], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line:
        p.kill()
        fail("the child building a network printed nothing (exit %s)" % p.wait())
    names = json.loads(line)
    check(set(names) <= set(netns.namespaces()) | set(netns.links()),
          "the child's network exists while it runs (%s)" % ", ".join(names))
    return p, names


def check_exit_paths():
    p, names = child("exit")
    check(p.wait(timeout=60) == 3, "a child that exits without closing exits as it says")
    gone(names, "exit without close (atexit)")

    p, names = child("wait")
    p.send_signal(signal.SIGTERM)
    check(p.wait(timeout=60) == 128 + signal.SIGTERM, "a child on SIGTERM exits 143")
    gone(names, "SIGTERM")


def check_sweep():
    p, names = child("wait")
    p.kill()
    p.wait(timeout=60)
    left = set(names) & (set(netns.namespaces()) | set(netns.links()))
    check(left == set(names), "SIGKILL leaves the child's network behind (%d of %d)" %
          (len(left), len(names)))
    orphans = pids_in(names[0])
    check(len(orphans) == 1, "and the process it started in it (%s)" % orphans)
    with netns.Network(["S"]) as net:
        gone(names, "the next network made sweeps what the killed child left")
        check(not any(alive(pid) for pid in orphans), "and kills the process left in it")
        check(net.ns["S"] in netns.namespaces(), "and keeps its own")


if __name__ == "__main__":
    main()
