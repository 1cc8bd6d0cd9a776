#!/usr/bin/env python3
"""Paired benchmark: one setting changed against the collection's default, in the same container.

Not a test. The serving benchmark (bench/serving.py) compares whole setups in
separate containers, a minute or more apart; on a shared machine whose speed
drifts by 10-60% within a run, that cannot resolve differences of a few per
cent. This one answers "what does setting X cost or gain?" precisely enough to
choose defaults:

  1. deploys the example app with site.yml into flaskstack-bench (Debian 12),
     as bench/serving.py does: the default stack, A (nginx :80 -> uWSGI
     127.0.0.1:8000);
  2. for each variant, starts a twin B beside it: a copy of the deployed
     uWSGI unit and ini on 127.0.0.1:8001 and of the nginx site on
     127.0.0.1:8080, with that one setting changed;
  3. measures A and B alternately with wrk (inside the container), PAIRS
     windows of WINDOW seconds each, the order swapped every pair, so each
     B window has an A window next to it in time; a variant's result is the
     geometric mean of the per-pair ratios B/A, with their range;
  4. writes docs/bench-paired.md and docs/bench-paired.json.

The variant "same" (B an unchanged copy) shows the method's own noise.

    make bench-paired
Environment: BENCH_PAIRS (8), BENCH_WINDOW (5 s), BENCH_CONNECTIONS (32,512),
BENCH_VARIANTS (all, comma-separated), BENCH_KEEP=1 keeps the container,
BENCH_REUSE=1 measures in the kept one instead of deploying again.
"""

import json
import math
import os
import sys
import tempfile
import time

import serving
from serving import DEFAULT, ROOT, exec_in, sh

PAIRS = int(os.environ.get("BENCH_PAIRS", "8"))
WINDOW = int(os.environ.get("BENCH_WINDOW", "5"))
CONNECTIONS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "32,512").split(",")]
A_PORT, B_PORT = 80, 8080

INI, UNIT, SITE = "/etc/uwsgi/chatbot.ini", "/etc/systemd/system/uwsgi-chatbot.service", "/etc/nginx/sites-available/chatbot.conf"
TWIN_INI, TWIN_UNIT, TWIN_SITE = "/etc/uwsgi/twin.ini", "/etc/systemd/system/uwsgi-twin.service", "/etc/nginx/conf.d/twin.conf"
SOCKET, TWIN_SOCKET = "/etc/systemd/system/uwsgi-chatbot.socket", "/etc/systemd/system/uwsgi-twin.socket"

# The twin: the deployed files (socket unit included) with another socket,
# stats socket, runtime directory and port; the site keeps everything else
# (headers, logs, timeouts).
TWIN = f"""
sed -e 's/^socket = .*/socket = 127.0.0.1:8001/' -e 's#^stats = .*#stats = /run/uwsgi-twin/stats.sock#' {INI} > {TWIN_INI}
sed -e 's/^ListenStream=.*/ListenStream=127.0.0.1:8001/' -e 's/uwsgi-chatbot/uwsgi-twin/g' {SOCKET} > {TWIN_SOCKET}
sed -e 's#{INI}#{TWIN_INI}#' -e 's/^RuntimeDirectory=.*/RuntimeDirectory=uwsgi-twin/' -e 's/uwsgi-chatbot\\.socket/uwsgi-twin.socket/g' {UNIT} > {TWIN_UNIT}
sed -e 's/chatbot_uwsgi/twin_uwsgi/g' -e 's/127.0.0.1:8000/127.0.0.1:8001/' -e '/listen \\[::\\]/d' \\
    -e 's/^\\( *\\)listen .*/\\1listen 127.0.0.1:{B_PORT} reuseport;/' -e 's/server_name .*/server_name twin;/' {SITE} > {TWIN_SITE}
"""

SANDBOX = ("SystemCallFilter", "SystemCallArchitectures", "SystemCallErrorNumber", "MemoryDenyWriteExecute", "RestrictAddressFamilies",
           "RestrictNamespaces", "LockPersonality", "RestrictRealtime", "RestrictSUIDSGID", "ProtectKernelTunables",
           "ProtectKernelModules", "ProtectKernelLogs", "ProtectProc", "ProtectClock", "ProtectHostname", "PrivateDevices", "DevicePolicy")

# name: (what B changes, shell commands applied to the twin's files)
VARIANTS = {
    "same": ("nothing: an unchanged copy (the method's noise)", ""),
    "uwsgi-request-log": (
        "uWSGI logs every request (its own default; under systemd the lines go to the journal)",
        f"sed -i '/^disable-logging\\|^log-4xx\\|^log-5xx/d' {TWIN_INI}",
    ),
    "hand-made": (
        "the hand-made baseline's settings: 4 processes x 2 threads, every request logged to a file, uWSGI's default"
        " backlog (100), an nginx server with only `include uwsgi_params; uwsgi_pass` (no reuseport)",
        f"sed -i '/^disable-logging\\|^log-4xx\\|^log-5xx\\|^listen = /d; s/^processes = .*/processes = 4/; s/^threads = .*/threads = 2/' {TWIN_INI}"
        f" && sed -i 's/^Backlog=.*/Backlog=100/' {TWIN_SOCKET}"
        f" && echo 'logto = /srv/chatbot/shared/data/twin-uwsgi.log' >> {TWIN_INI}"
        f" && printf 'server {{\\n    listen 127.0.0.1:{B_PORT};\\n    location / {{\\n        include uwsgi_params;\\n"
        f"        uwsgi_pass 127.0.0.1:8001;\\n    }}\\n}}\\n' > {TWIN_SITE}",
    ),
    "threads-1": ("1 thread per uWSGI process instead of 2 (same processes)", f"sed -i 's/^threads = .*/threads = 1/' {TWIN_INI}"),
    "processes-x2-threads-1": (
        "twice the uWSGI processes, 1 thread each",
        f"sed -i 's/^threads = .*/threads = 1/' {TWIN_INI} && p=$(sed -n 's/^processes = //p' {TWIN_INI})"
        f" && sed -i \"s/^processes = .*/processes = $((p * 2))/\" {TWIN_INI}",
    ),
    "no-sandbox": (
        "the uWSGI unit without its systemd sandbox (system call filter, address families, W^X, kernel protections)",
        f"sed -i -E '/^({'|'.join(SANDBOX)})=/d' {TWIN_UNIT}",
    ),
    "unix-socket": (
        "nginx reaches uWSGI over a unix socket instead of TCP on 127.0.0.1, as flaskstack_uwsgi_unix_socket sets it up"
        " (systemd's socket root:www-data 0660)",
        f"sed -i -e 's#^ListenStream=.*#ListenStream=/run/uwsgi-twin.sock\\nSocketUser=root\\nSocketGroup=www-data\\nSocketMode=0660"
        f"\\nRemoveOnStop=true#' -e '/^FreeBind=/d' {TWIN_SOCKET}"
        f" && sed -i 's#^socket = .*#socket = /run/uwsgi-twin.sock#' {TWIN_INI}"
        f" && sed -i 's#server 127\\.0\\.0\\.1:8001#server unix:/run/uwsgi-twin.sock#' {TWIN_SITE}",
    ),
}
CHOSEN = os.environ.get("BENCH_VARIANTS", ",".join(VARIANTS)).split(",")


def start_twin(name):
    change = VARIANTS[name][1]
    exec_in(DEFAULT, f"set -e\nsystemctl stop uwsgi-twin uwsgi-twin.socket 2>/dev/null || true\n{TWIN}\n{change}\n"
            "systemctl daemon-reload && systemctl start uwsgi-twin.socket uwsgi-twin && nginx -t -q && systemctl reload nginx")
    for _ in range(30):
        probe = exec_in(DEFAULT, f"python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{B_PORT}/').status)\"", check=False)
        if probe.stdout.strip() == "200":
            return
        time.sleep(1)
    sys.exit(f"the twin of variant {name} does not answer 200 on port {B_PORT}:\n{probe.stderr[-2000:]}")


def window(port, connections, seconds):
    return serving.wrk(DEFAULT, f"http://127.0.0.1:{port}/", connections, seconds, warmup=0)


def measure(connections):
    window(A_PORT, connections, 3)
    window(B_PORT, connections, 3)
    pairs = []
    for i in range(PAIRS):
        order = (A_PORT, B_PORT) if i % 2 == 0 else (B_PORT, A_PORT)
        got = {port: window(port, connections, WINDOW) for port in order}
        pairs.append({"a": got[A_PORT], "b": got[B_PORT]})
    ratios = [p["b"]["rps"] / p["a"]["rps"] for p in pairs]
    return {
        "ratio": math.exp(sum(math.log(r) for r in ratios) / len(ratios)),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "a_rps": sorted(p["a"]["rps"] for p in pairs)[len(pairs) // 2],
        "b_rps": sorted(p["b"]["rps"] for p in pairs)[len(pairs) // 2],
        "a_errors": sum(p["a"]["errors"] for p in pairs),
        "b_errors": sum(p["b"]["errors"] for p in pairs),
        "pairs": [[round(p["a"]["rps"]), round(p["b"]["rps"])] for p in pairs],
    }


def report(results, description):
    lines = [
        "# Paired benchmark: one setting against the default",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `make bench-paired` (bench/paired.py) on one machine:",
        f"{description}.",
        "",
        "A is the collection's default stack as site.yml deploys it (nginx :80 -> uWSGI on 127.0.0.1:8000). B is a twin",
        "in the same container, a copy of A's uWSGI unit, ini and nginx site on other ports, with one setting changed.",
        f"wrk (inside the container, on loopback, `GET /` of the example app) measures A and B alternately: {PAIRS} pairs of",
        f"{WINDOW} s windows, the order swapped every pair, so a drift of the machine's speed falls on both alike.",
        "B/A is the geometric mean of the per-pair ratios of requests/s (above 1: B is faster); the range is the lowest",
        "and highest pair. The \"same\" row (B an unchanged copy) is the method's own noise. Errors: wrk's socket",
        "errors and non-2xx answers over all windows.",
        "",
        "What B changes:",
        "",
    ]
    lines += [f"- **{name}**: {results[name]['what']}" for name in results]
    lines += [
        "",
        "| B | connections | B/A requests/s | pairs' range | A req/s (median) | B req/s (median) | errors A / B |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for name in results:
        for c, r in results[name]["points"].items():
            lines.append(
                f"| {name} | {c} | {r['ratio']:.3f} | {r['ratio_min']:.3f}-{r['ratio_max']:.3f}"
                f" | {r['a_rps']:.0f} | {r['b_rps']:.0f} | {r['a_errors']} / {r['b_errors']} |"
            )
    lines.append("")
    return "\n".join(lines)


def main():
    unknown = sorted(set(CHOSEN) - set(VARIANTS))
    if unknown:
        sys.exit(f"BENCH_VARIANTS: unknown {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    with tempfile.TemporaryDirectory() as workdir:
        try:
            if os.environ.get("BENCH_REUSE") != "1":
                serving.start_container(DEFAULT)
                serving.deploy_default(workdir)
            description = serving.machine()
            results = {}
            for name in CHOSEN:
                start_twin(name)
                results[name] = {"what": VARIANTS[name][0], "points": {}}
                for c in CONNECTIONS:
                    point = measure(c)
                    results[name]["points"][c] = point
                    print(f"{name:24} c{c:<4} B/A {point['ratio']:.3f} ({point['ratio_min']:.3f}-{point['ratio_max']:.3f})"
                          f"  A {point['a_rps']:.0f} B {point['b_rps']:.0f} req/s, errors {point['a_errors']}/{point['b_errors']}", flush=True)
        finally:
            if os.environ.get("BENCH_KEEP") != "1":
                sh("podman", "rm", "-f", DEFAULT, check=False)
    (ROOT / "docs" / "bench-paired.md").write_text(report(results, description))
    (ROOT / "docs" / "bench-paired.json").write_text(json.dumps({"machine": description, "results": results}, indent=1) + "\n")
    print("wrote docs/bench-paired.md")


if __name__ == "__main__":
    main()
