"""Release helper of flaskstack.deploy's flask_app role, installed on the server.

Run with the server's python3 (python3 /usr/local/sbin/flaskstack-release ...):

    flaskstack-release state BASE KEEP [TARGET]
        Print the state of an app's releases as JSON (see state()).
    flaskstack-release check --release R --chdir D [--pythonpath P] import ENTRY
        Run with a release's own Python: import the WSGI entry ("module:callable"
        or "package:factory()") the way the app server will and check that it
        gives a callable.
    flaskstack-release check --release R --chdir D run COMMAND
        Run a shell COMMAND inside a release (a migration...) with the
        release's environment and its virtualenv first on PATH.
    flaskstack-release switch BASE ID [SERVICE [TIMEOUT]]
        Put a release live (see switch()).
    flaskstack-release probe HOST:PORT PATH [--host NAME] [--timeout S]
        Send one GET over the uwsgi protocol straight to uWSGI (no nginx) and
        print {"status": ..., "body": ...} as JSON (see probe()).

Layout under BASE: releases/<id>/ (complete once .flaskstack-release exists;
.flaskstack-live is touched each time it goes live and removed when it fails
its health check), venvs/<key>/, and the "current" symlink. Standard library
only: it runs with the system python3 and with each release's venv python.
"""

import argparse
import importlib
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import traceback

# ---------------------------------------------------------------- state


def _mtime(path):
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return None


def state(base, keep, wanted=""):
    """current, current_healthy (it went live and passed its health check),
    previous (newest other release that went live and stayed healthy), target (WANTED if complete, else previous), releases (complete,
    newest first), prune (beyond the KEEP newest, never current or previous;
    also every unfinished release but WANTED: a build or check that failed),
    unused_venvs and unused_artifacts (no kept release links to them)."""
    releases_dir = os.path.join(base, "releases")
    current = ""
    if os.path.islink(os.path.join(base, "current")):
        current = os.path.basename(os.readlink(os.path.join(base, "current")).rstrip("/"))

    complete, live, unfinished = {}, {}, []
    for name in os.listdir(releases_dir) if os.path.isdir(releases_dir) else []:
        built = _mtime(os.path.join(releases_dir, name, ".flaskstack-release"))
        if built is None:
            if name not in (wanted, current):
                unfinished.append(name)
            continue
        went_live = _mtime(os.path.join(releases_dir, name, ".flaskstack-live"))
        complete[name] = max(built, went_live or 0)
        if went_live is not None:
            live[name] = went_live

    ordered = sorted(complete, key=lambda n: (complete[n], n), reverse=True)
    healthy = sorted((n for n in live if n != current), key=lambda n: live[n], reverse=True)
    previous = healthy[0] if healthy else ""
    kept = [n for n in ordered if n in (current, previous)]
    for name in ordered:
        if len(kept) >= keep:
            break
        if name not in kept:
            kept.append(name)

    used = set()
    for name in kept:
        link = os.path.join(releases_dir, name, "venv")
        if os.path.islink(link):
            used.add(os.path.basename(os.readlink(link).rstrip("/")))
    venvs_dir = os.path.join(base, "venvs")
    venvs = os.listdir(venvs_dir) if os.path.isdir(venvs_dir) else []

    # The artifacts' store (one file per content and mode): what no kept release links to.
    linked = set()
    for name in kept:
        for root, _dirs, files in os.walk(os.path.join(releases_dir, name, ".flaskstack-artifacts")):
            for entry in files:
                if os.path.islink(os.path.join(root, entry)):
                    linked.add(os.path.basename(os.readlink(os.path.join(root, entry))))
    store = os.path.join(base, "artifacts")
    stored = os.listdir(store) if os.path.isdir(store) else []

    return {
        "current": current,
        "current_healthy": current in live,
        "previous": previous,
        "target": wanted if wanted in complete else ("" if wanted else previous),
        "releases": ordered,
        "prune": [n for n in ordered if n not in kept] + sorted(unfinished),
        "unused_venvs": sorted(v for v in venvs if v not in used),
        "unused_artifacts": sorted(a for a in stored if a not in linked),
    }


# ---------------------------------------------------------------- check


def load_entry(entry):
    module_name, _sep, attr = entry.partition(":")
    factory = attr.endswith("()")
    attr = attr[:-2] if factory else attr
    target = getattr(importlib.import_module(module_name), attr)
    return target() if factory else target


def check(args):
    if args.release:
        # The release's own reader of its environment file (flaskstack_env.py).
        sys.path.insert(0, args.release)
        importlib.import_module("flaskstack_env").apply()
        del sys.path[0]
    os.chdir(args.chdir)
    venv_bin = os.path.dirname(sys.executable)
    os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")
    os.environ["VIRTUAL_ENV"] = os.path.dirname(venv_bin)

    if args.action == "run":
        sys.stdout.flush()
        os.execv("/bin/sh", ["/bin/sh", "-ec", args.target])

    for path in reversed([args.chdir, *args.pythonpath]):
        sys.path.insert(0, path)
    try:
        app = load_entry(args.target)
    except Exception:  # report whatever the app raised, then fail the deploy
        traceback.print_exc()
        print(f"release check: importing {args.target} failed", file=sys.stderr)
        return 1
    if not callable(app):
        print(f"release check: {args.target} is a {type(app).__name__}, not a WSGI callable", file=sys.stderr)
        return 1
    print(f"release check: {args.target} imports and is callable")
    return 0


# ---------------------------------------------------------------- switch


def _main_pid(service):
    out = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", service], capture_output=True, text=True, check=False)
    return int(out.stdout.strip() or 0)


def _children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return set(out.stdout.split())


def switch(base, release, service="", timeout=90.0, restart=()):
    """Rename a new "current" symlink over the old one (atomic: readers see the
    old release or the new one, never none). If SERVICE (uWSGI under systemd)
    runs, reload it gracefully (SIGHUP: workers finish their requests, the
    master re-executes and loads the app again through "current", the
    listening socket stays open so new connections wait instead of failing)
    and wait until all its workers are new processes: the new code answers.
    Then restart the RESTART units that run (the app's background workers):
    they stop gracefully and start on the new release."""
    if not os.path.isfile(os.path.join(base, "releases", release, ".flaskstack-release")):
        raise SystemExit(f"release {release} is not complete")
    pid = _main_pid(service) if service else 0
    old = _children(pid) if pid else set()

    tmp = os.path.join(base, ".current.new")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.join("releases", release), tmp)
    os.replace(tmp, os.path.join(base, "current"))
    with open(os.path.join(base, "releases", release, ".flaskstack-live"), "a", encoding="utf-8"):
        os.utime(os.path.join(base, "releases", release, ".flaskstack-live"))

    if not pid:
        print(f"current -> releases/{release} ({service or 'no service'} not running: nothing to reload)")
        return _restart(restart)
    subprocess.run(["systemctl", "reload", service], check=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _main_pid(service)
        new = _children(pid) if pid else set()
        if new and not new & old:
            print(f"current -> releases/{release}; {service} reloaded, workers {sorted(new)}")
            return _restart(restart)
        time.sleep(0.2)
    status = subprocess.run(["systemctl", "status", "--no-pager", service], capture_output=True, text=True, check=False)
    print(f"{service} did not come back with new workers within {timeout:.0f}s\n{status.stdout}", file=sys.stderr)
    return 1


def _restart(units):
    """Restart the UNITS that run (not set up yet: left alone). A restart job,
    not try-restart, so that a target's restart reaches its PartOf= units."""
    running = [unit for unit in units if subprocess.run(["systemctl", "is-active", "--quiet", unit], check=False).returncode == 0]
    if not running:
        return 0
    done = subprocess.run(["systemctl", "restart", *running], capture_output=True, text=True, check=False)
    if done.returncode:
        print(f"restarting {' '.join(running)} failed: {done.stderr.strip()}", file=sys.stderr)
        return 1
    print(f"restarted {' '.join(running)}")
    return 0


# ---------------------------------------------------------------- probe


def _uwsgi_packet(env):
    """A uwsgi protocol request: header (modifier1 0, size, modifier2 0), then the vars."""
    body = b""
    for key, value in env.items():
        key, value = key.encode("latin-1"), value.encode("latin-1")
        body += struct.pack("<H", len(key)) + key + struct.pack("<H", len(value)) + value
    return struct.pack("<BHB", 0, len(body), 0) + body


def probe(address, path, host="localhost", timeout=10.0):
    """GET PATH from the uWSGI socket at ADDRESS ("host:port"), the way nginx would.

    Returns {"status": int or None, "body": str, "error": str}. Checks an app
    server directly, e.g. while it is drained from the load balancer.
    """
    target, _sep, port = address.rpartition(":")
    path_info, _sep, query = path.partition("?")
    env = {
        "REQUEST_METHOD": "GET",
        "REQUEST_URI": path,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": host,
        "SERVER_PORT": "80",
        "HTTP_HOST": host,
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_USER_AGENT": "flaskstack-release probe",
    }
    try:
        with socket.create_connection((target.strip("[]"), int(port)), timeout=timeout) as conn:
            conn.sendall(_uwsgi_packet(env))
            chunks = []
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError as exc:
        return {"status": None, "body": "", "error": f"{address}: {exc}"}
    raw = b"".join(chunks)
    head, _sep, body = raw.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/[0-9.]+ ([0-9]{3})", head)
    if not match:
        return {"status": None, "body": raw[:300].decode("utf-8", "replace"), "error": f"{address}: no HTTP answer"}
    return {"status": int(match.group(1)), "body": body.decode("utf-8", "replace"), "error": ""}


# ---------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_state = commands.add_parser("state")
    p_state.add_argument("base")
    p_state.add_argument("keep", type=int)
    p_state.add_argument("target", nargs="?", default="")
    p_check = commands.add_parser("check")
    p_check.add_argument("--release", default="")
    p_check.add_argument("--chdir", required=True)
    p_check.add_argument("--pythonpath", action="append", default=[])
    p_check.add_argument("action", choices=["import", "run"])
    p_check.add_argument("target")
    p_switch = commands.add_parser("switch")
    p_switch.add_argument("base")
    p_switch.add_argument("release")
    p_switch.add_argument("service", nargs="?", default="")
    p_switch.add_argument("timeout", nargs="?", type=float, default=90.0)
    p_switch.add_argument("restart", nargs="*", default=[])
    p_probe = commands.add_parser("probe")
    p_probe.add_argument("address")
    p_probe.add_argument("path")
    p_probe.add_argument("--host", default="localhost")
    p_probe.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)

    if args.command == "state":
        json.dump(state(args.base, args.keep, args.target), sys.stdout)
        return 0
    if args.command == "check":
        return check(args)
    if args.command == "probe":
        json.dump(probe(args.address, args.path, args.host, args.timeout), sys.stdout)
        return 0
    return switch(args.base, args.release, args.service, args.timeout, args.restart)


if __name__ == "__main__":
    sys.exit(main())
