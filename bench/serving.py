#!/usr/bin/env python3
"""Serving benchmark: the collection's default stack against the hand-made setup and gunicorn.

Not a test. In one run on this machine it:
  1. deploys the example app with site.yml into a systemd container
     (flaskstack-bench, Debian 12), the collection's defaults; and into a
     second one (flaskstack-bench-unix) with flaskstack_uwsgi_unix_socket,
     nginx reaching uWSGI over /run/uwsgi-chatbot.sock instead of TCP;
  2. reproduces the hand-made setup in a second container
     (flaskstack-bench-manual, bench/manual_setup.sh): nginx -> uWSGI with the
     literal uwsgi.ini of the manual procedure, and nginx -> gunicorn;
  3. adds the ceilings in the first container: the same uWSGI on its own
     (its ini with an HTTP socket instead of the uwsgi one) and nginx
     answering a fixed string;
  4. measures each with wrk on loopback (inside the container serving it),
     at 8, 32 and 512 connections: a 5 s warm-up, then 20 s; in ROUNDS rounds
     (3), each round going through every setup once per connection count, so
     that a slow minute of this shared machine does not fall on one setup
     only; each point reports the median round (errors: all rounds' sum);
  5. writes docs/bench-serving.md (table, machine) and docs/bench-serving.png,
     and prints the ratios against the goals of issue 7.

    make bench-serving
Environment: BENCH_SECONDS (20), BENCH_WARMUP (5), BENCH_CONNECTIONS (8,32,512), BENCH_ROUNDS (3), BENCH_KEEP=1 keeps the containers.
"""

import json
import os
import statistics
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
IMAGE = "localhost/flaskstack-debian12:latest"
DEFAULT, MANUAL, UNIX = "flaskstack-bench", "flaskstack-bench-manual", "flaskstack-bench-unix"
SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "5"))
CONNECTIONS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "8,32,512").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SETUPS = [
    # (key, label, container, url)
    ("default", "flaskstack default (nginx -> uWSGI)", DEFAULT, "http://127.0.0.1:80/"),
    ("unix", "flaskstack, unix socket (nginx -> uWSGI)", UNIX, "http://127.0.0.1:80/"),
    ("baseline", "hand-made baseline (nginx -> uWSGI)", MANUAL, "http://127.0.0.1:80/"),
    ("gunicorn", "nginx -> gunicorn (4 gthread x 2)", MANUAL, "http://127.0.0.1:81/"),
    ("uwsgi", "ceiling: uWSGI alone (HTTP socket)", DEFAULT, "http://127.0.0.1:9000/"),
    ("nginx", "ceiling: nginx fixed string", DEFAULT, "http://127.0.0.1:9001/"),
]


def sh(*args, check=True, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    if check and result.returncode != 0:
        sys.exit(f"failed: {shlex.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def exec_in(container, script, check=True):
    return sh("podman", "exec", container, "sh", "-c", script, check=check)


def start_container(name):
    sh("podman", "rm", "-f", name, check=False)
    sh("podman", "run", "-d", "--name", name, "--hostname", name, "--systemd=always", IMAGE, "/sbin/init")
    for _ in range(60):
        state = exec_in(name, "systemctl is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    sys.exit(f"{name} did not boot")


def deploy(workdir, name, **settings):
    """site.yml into container NAME with the tencent inventory's settings (and SETTINGS on top), then wrk."""
    inventory = Path(workdir) / f"inventory-{name}"
    inventory.mkdir()
    (inventory / "group_vars").symlink_to(ROOT / "inventories" / "tencent" / "group_vars")
    host = {"ansible_connection": "containers.podman.podman", "ansible_user": "ubuntu", "ansible_become": True, **settings}
    hosts = {
        "all": {
            "hosts": {name: host},
            "children": {"appservers": {"hosts": {name: None}}, "webservers": {"hosts": {name: None}}},
        }
    }
    (inventory / "hosts.yml").write_text(json.dumps(hosts))
    start = time.monotonic()
    sh(str(BIN / "ansible-playbook"), "-i", str(inventory), "site.yml", cwd=ROOT)
    print(f"site.yml deployed {name} in {time.monotonic() - start:.0f} s", flush=True)
    exec_in(name, "apt-get install -y -q wrk >/dev/null")


def deploy_default(workdir):
    deploy(workdir, DEFAULT)
    # Ceiling 1: the deployed uWSGI config, serving HTTP itself on 127.0.0.1:9000.
    exec_in(
        DEFAULT,
        "sed -e 's/^socket = .*/http-socket = 127.0.0.1:9000/' -e '/^stats = /d' /etc/uwsgi/chatbot.ini > /etc/uwsgi/bench-alone.ini"
        " && systemd-run --unit bench-uwsgi-alone -p User=chatbot -p Group=chatbot"
        " -p EnvironmentFile=/etc/flaskstack/chatbot.env /srv/chatbot/uwsgi/bin/uwsgi --ini /etc/uwsgi/bench-alone.ini",
    )
    # Ceiling 2: nginx (the deployed nginx.conf) answering a fixed string.
    exec_in(
        DEFAULT,
        "printf 'server {\\n    listen 127.0.0.1:9001;\\n    access_log off;\\n    location / { return 200 \"ok\\\\n\"; }\\n}\\n'"
        " > /etc/nginx/conf.d/bench-fixed.conf && nginx -t 2>/dev/null && systemctl reload nginx",
    )


def setup_manual():
    sh("podman", "cp", str(ROOT / "examples" / "chatbot"), f"{MANUAL}:/root/chatbot")
    sh("podman", "cp", str(ROOT / "examples" / "models" / "chatbot-model.json"), f"{MANUAL}:/root/chatbot/model.json")
    sh("podman", "cp", str(ROOT / "bench" / "manual_setup.sh"), f"{MANUAL}:/root/manual_setup.sh")
    exec_in(MANUAL, "apt-get update -q >/dev/null 2>&1; sh /root/manual_setup.sh")
    print(f"hand-made setup ready in {MANUAL}", flush=True)


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_ms(text):
    number, unit = re.fullmatch(r"([0-9.]+)([a-z]+)", text).groups()
    return float(number) * UNITS[unit]


def parse_wrk(out):
    result = {"rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))}
    for pct in ("50", "99"):
        result[f"p{pct}_ms"] = parse_ms(re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M).group(1))
    result["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    counts = [int(n) for n in socket_errors.groups()] if socket_errors else [0, 0, 0, 0]
    result["connect_errors"], result["read_errors"], result["write_errors"], result["timeouts"] = counts
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    result["errors"] = sum(counts) + result["non_2xx"]
    return result


def wrk(container, url, connections, seconds=SECONDS, warmup=WARMUP):
    """A warm-up (none if 0), then the measured run, with wrk inside CONTAINER."""
    threads = min(2, connections)
    if warmup:
        exec_in(container, f"wrk -t{threads} -c{connections} -d{warmup}s {url} >/dev/null")
    out = exec_in(container, f"wrk -t{threads} -c{connections} -d{seconds}s --latency {url}").stdout
    return parse_wrk(out)


def summary(runs):
    """The median round of a point (by requests/s), with every round's errors added up and all rounds kept."""
    median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    out = dict(median)
    for key in ("errors", "timeouts", "non_2xx", "connect_errors", "read_errors", "write_errors"):
        out[key] = sum(r[key] for r in runs)
    out["rps_rounds"] = [round(r["rps"]) for r in runs]
    out["rps_spread"] = (max(r["rps"] for r in runs) - min(r["rps"] for r in runs)) / statistics.median(r["rps"] for r in runs)
    return out


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024 // 1024
    versions = exec_in(DEFAULT, "nginx -v 2>&1; /srv/chatbot/uwsgi/bin/uwsgi --version; wrk -v 2>&1 | head -1", check=False).stdout.split("\n")
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mem} GiB RAM, Linux {platform.release()}; containers: Debian 12 (podman, systemd); "
        f"{versions[0].strip()}, uWSGI {versions[1].strip()}, {versions[2].strip()}"
    )


def chart(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(SETUPS)
    for i, (key, label, _, _) in enumerate(SETUPS):
        xs = [n + i * width for n in range(len(CONNECTIONS))]
        axes[0].bar(xs, [results[key][c]["rps"] for c in CONNECTIONS], width, label=label)
        axes[1].bar(xs, [results[key][c]["p99_ms"] for c in CONNECTIONS], width, label=label)
    for ax, title in zip(axes, ("requests/s (higher is better)", "p99 latency, ms (lower is better, log scale)")):
        ax.set_xticks([n + width * (len(SETUPS) - 1) / 2 for n in range(len(CONNECTIONS))])
        ax.set_xticklabels([f"{c} connections" for c in CONNECTIONS])
        ax.set_title(title)
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Example Flask app, GET /, wrk on loopback, {SECONDS} s per point, median of {ROUNDS} rounds")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def report(results, description):
    ratio = lambda a, b, c, k="rps": results[a][c][k] / results[b][c][k]  # noqa: E731
    lines = [
        "# Serving benchmark",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `make bench-serving` (bench/serving.py), all setups in one run on one machine:",
        f"{description}.",
        "",
        f"wrk runs inside the container it measures, against 127.0.0.1: a {WARMUP} s warm-up, then {SECONDS} s; `GET /` of",
        "the example app (examples/chatbot). Errors = wrk's socket errors (connect, read, write, timeout after 2 s) + non-2xx answers.",
        f"{ROUNDS} rounds, interleaved: each round measures every setup once at each connection count, so a slow spell of",
        "the machine is shared out; a row shows the median round (by requests/s) and the errors of all rounds together.",
        "",
        "| setup | connections | requests/s (median) | each round | p50 (ms) | p99 (ms) | errors (timeouts, non-2xx) |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for key, label, _, _ in SETUPS:
        for c in CONNECTIONS:
            r = results[key][c]
            lines.append(
                f"| {label} | {c} | {r['rps']:.0f} | {', '.join(str(v) for v in r['rps_rounds'])} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f}"
                f" | {r['errors']} ({r['timeouts']}, {r['non_2xx']}) |"
            )
    lines += [
        "",
        "uWSGI alone: its HTTP socket closes the connection after every answer (no keep-alive), which wrk counts as",
        "read errors; they are not failed requests, and each request pays for a new connection.",
        "",
        "![requests/s and p99 latency](bench-serving.png)",
        "",
        "## Against the goals",
        "",
    ]
    checks = []
    if 512 in CONNECTIONS:
        checks += [
            ("512 connections: errors of the default", f"{results['default'][512]['errors']}", results["default"][512]["errors"] == 0, "0"),
            ("512 connections: p99 default / baseline", f"{ratio('default', 'baseline', 512, 'p99_ms'):.3f}", ratio("default", "baseline", 512, "p99_ms") <= 0.2, "<= 0.2"),
            ("512 connections: requests/s default / baseline", f"{ratio('default', 'baseline', 512):.3f}", ratio("default", "baseline", 512) >= 1.2, ">= 1.2"),
        ]
    if 32 in CONNECTIONS:
        checks += [
            ("32 connections: requests/s default / baseline", f"{ratio('default', 'baseline', 32):.3f}", ratio("default", "baseline", 32) >= 1.0, ">= 1.0"),
            ("32 connections: requests/s default / gunicorn", f"{ratio('default', 'gunicorn', 32):.3f}", ratio("default", "gunicorn", 32) >= 1.5, ">= 1.5"),
            ("32 connections: requests/s default / uWSGI alone", f"{ratio('default', 'uwsgi', 32):.3f}", ratio("default", "uwsgi", 32) >= 0.85, ">= 0.85"),
        ]
    lines += ["| measure | value | goal | met |", "|---|---:|---|---|"]
    lines += [f"| {name} | {value} | {goal} | {'yes' if met else 'NO'} |" for name, value, met, goal in checks]
    lines += [
        "",
        "The unix socket (`flaskstack_uwsgi_unix_socket`) against the default TCP 127.0.0.1:8000, same settings otherwise:",
        "",
        "| connections | requests/s unix / TCP | p99 unix / TCP |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {c} | {ratio('unix', 'default', c):.3f} | {ratio('unix', 'default', c, 'p99_ms'):.3f} |" for c in CONNECTIONS]
    lines += [
        "",
        "The rounds of one setup differ by more than a few per cent (see each round), so this table cannot resolve smaller",
        "differences. [bench-paired.md](bench-paired.md) measures one setting at a time against the default, in the same",
        "container, in windows taken alternately a few seconds apart.",
        "",
    ]
    return "\n".join(lines)


def main():
    with tempfile.TemporaryDirectory() as workdir:
        start_container(DEFAULT)
        start_container(MANUAL)
        start_container(UNIX)
        try:
            deploy_default(workdir)
            deploy(workdir, UNIX, flaskstack_uwsgi_unix_socket=True)
            setup_manual()
            description = machine() + "; gunicorn 27.0.1"
            rounds = {key: {c: [] for c in CONNECTIONS} for key, *_ in SETUPS}
            for n in range(ROUNDS):
                for c in CONNECTIONS:
                    for key, label, container, url in SETUPS:
                        r = wrk(container, url, c)
                        rounds[key][c].append(r)
                        print(
                            f"round {n + 1} {label:40} c={c:<4} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:8.2f} ms"
                            f"  p99 {r['p99_ms']:8.2f} ms  errors {r['errors']}",
                            flush=True,
                        )
            results = {key: {c: summary(runs) for c, runs in by_c.items()} for key, by_c in rounds.items()}
        finally:
            if os.environ.get("BENCH_KEEP") != "1":
                sh("podman", "rm", "-f", DEFAULT, MANUAL, UNIX, check=False)
    (ROOT / "docs" / "bench-serving.json").write_text(json.dumps({"machine": description, "results": results}, indent=1) + "\n")
    chart(results, ROOT / "docs" / "bench-serving.png")
    text = report(results, description)
    (ROOT / "docs" / "bench-serving.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
