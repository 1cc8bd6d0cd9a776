#!/usr/bin/env python3
"""Benchmark: how long the playbooks take on one server, over SSH as on a cloud server.

Not a test. A Debian 12 systemd container with sshd (flaskstack-timing,
127.0.0.1:2222) stands in for the server; Ansible connects as the "ubuntu" user
with sudo, with the pipelining and SSH multiplexing of ansible.cfg. Measured,
ROUNDS times each (median reported):
  - a fresh converge: site.yml on a new container;
  - a no-op re-run of site.yml (nothing changed);
  - an app-only deploy (deploy.yml) of a code change.
Writes docs/bench-playbooks.md (each label's row is kept in a table of all
runs so far).

BENCH_CHECKOUTS compares checkouts side by side in one run, interleaved round
by round on the same machine, e.g. the code before a change (a git worktree)
against this one:

    git worktree add /tmp/before <commit>
    BENCH_CHECKOUTS="before=/tmp/before after=." make bench-playbooks

Without it, this checkout is measured under the label BENCH_LABEL.

    make bench-playbooks
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import variant

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
IMAGE = "localhost/flaskstack-debian12:latest"
NAME = "flaskstack-timing"
PORT = 2222
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LABEL = os.environ.get("BENCH_LABEL", "current")
# label=path pairs; each path a checkout of this project.
CHECKOUTS = [
    (pair.partition("=")[0], Path(pair.partition("=")[2]).resolve())
    for pair in os.environ.get("BENCH_CHECKOUTS", f"{LABEL}={ROOT}").split()
]
DOC = ROOT / "docs" / "bench-playbooks.md"
RESULTS = ROOT / "docs" / "bench-playbooks.json"
# Optional directory for each run's output (e.g. with ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks).
LOGS = Path(os.environ["BENCH_LOGS"]) if os.environ.get("BENCH_LOGS") else None
# Kept under the table: how to read rows measured on different days.
NOTES = """The runs are on the machine of their date; compare rows measured side by side on the same day. The 2026-12-03
machine was slower than the 2026-11-29 one (the serving benchmark's nginx ceiling: 68k against 97k requests/s), so that
day also has the code measured on 2026-11-29 ("after", commit ce069a1) run again side by side ("session-4 code, rerun")
next to "after look" (each role's one look at the server, flaskstack.deploy.look). Those rows were measured with the
ansible.posix.profile_tasks callback on, which itself costs time.

On 2026-12-04, without that callback, BENCH_CHECKOUTS ran the last code with the speed layer (commit aeb5bde: the
look and directories modules, the drifted filters) and this code (standard modules report changes; flask_app as
release steps) interleaved round by round. The no-op re-run is about twice as long: it runs about 54 tasks on the
server (70 more are skipped), about one second each over SSH with sudo on this machine, where the speed layer
answered most of them with one look per role. The app-only deploy is about the same. The fresh converge is within
noise (apt and the uWSGI compile take most of it; round 3 of this code was slowed by something else on the machine).
"""


def sh(*args, check=True, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    if check and result.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def fresh_server(key):
    sh("podman", "rm", "-f", NAME, check=False)
    sh("podman", "run", "-d", "--name", NAME, "--hostname", NAME, "--systemd=always", "-p", f"127.0.0.1:{PORT}:22", IMAGE, "/sbin/init")
    for _ in range(60):
        state = sh("podman", "exec", NAME, "systemctl", "is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(1)
    public = Path(f"{key}.pub").read_text()
    script = (
        "apt-get install -y -q openssh-server >/dev/null && install -d -o ubuntu -g ubuntu -m 0700 /home/ubuntu/.ssh"
        f" && printf '%s' '{public.strip()}' > /home/ubuntu/.ssh/authorized_keys"
        " && chown ubuntu:ubuntu /home/ubuntu/.ssh/authorized_keys && chmod 0600 /home/ubuntu/.ssh/authorized_keys"
        " && systemctl enable --now ssh >/dev/null 2>&1"
        # The user's systemd instance stays up between runs: in these containers
        # stopping it after the last session can hang for two minutes, holding up
        # the next login (a container artefact, not something servers do).
        " && loginctl enable-linger ubuntu"
    )
    sh("podman", "exec", NAME, "sh", "-c", script)


def inventory(workdir, key, label, root):
    """An inventory of the one server with ROOT's tencent settings."""
    inv = Path(workdir) / f"inventory-{label}"
    inv.mkdir()
    (inv / "group_vars").symlink_to(root / "inventories" / "tencent" / "group_vars")
    host = {
        "ansible_host": "127.0.0.1",
        "ansible_port": PORT,
        "ansible_user": "ubuntu",
        "ansible_become": True,
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
    }
    data = {"all": {"hosts": {NAME: host}, "children": {"appservers": {"hosts": {NAME: None}}, "webservers": {"hosts": {NAME: None}}}}}
    (inv / "hosts.yml").write_text(json.dumps(data))
    return str(inv)


def playbook(root, inv, name, src):
    start = time.monotonic()
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", inv, name, "-e", f"flask_app_src={src}"],
        cwd=root,
        env=dict(os.environ, ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(root / ".collections")),
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.monotonic() - start
    if LOGS:
        LOGS.mkdir(parents=True, exist_ok=True)
        stem = f"{time.strftime('%H%M%S')}-{Path(name).stem}"
        (LOGS / f"{stem}.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    changed = sum(int(n) for n in re.findall(r"\bchanged=(\d+)", result.stdout.split("PLAY RECAP")[-1]))
    return took, changed


def main():
    measures = ["fresh converge (site.yml)", "no-op re-run (site.yml)", "app-only deploy of a code change (deploy.yml)"]
    times = {label: {measure: [] for measure in measures} for label, _ in CHECKOUTS}
    with tempfile.TemporaryDirectory() as workdir:
        key = Path(workdir) / "key"
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
        inventories = {label: inventory(workdir, key, label, root) for label, root in CHECKOUTS}
        try:
            for n in range(ROUNDS):
                for label, root in CHECKOUTS:
                    inv = inventories[label]
                    app = str(root / "examples" / "chatbot")
                    got = times[label]
                    fresh_server(key)
                    took, _ = playbook(root, inv, "site.yml", app)
                    got[measures[0]].append(took)
                    took, changed = playbook(root, inv, "site.yml", app)
                    if changed:
                        sys.exit(f"{label}: the re-run of site.yml changed {changed} things: not a no-op")
                    got[measures[1]].append(took)
                    took, _ = playbook(root, inv, "deploy.yml", variant(workdir, f"timing-{label}-{n}"))
                    got[measures[2]].append(took)
                    print(f"round {n + 1}, {label}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in got.items()), flush=True)
        finally:
            sh("podman", "rm", "-f", NAME, check=False)

    runs = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for label, _ in CHECKOUTS:
        runs[label] = {"date": time.strftime("%Y-%m-%d"), "times": times[label]}
    RESULTS.write_text(json.dumps(runs, indent=1) + "\n")
    render(runs)


def render(runs):
    """docs/bench-playbooks.md from all the runs so far (also: playbook_timing.py --render)."""
    lines = [
        "# How long the playbooks take",
        "",
        "Measured by `make bench-playbooks` (bench/playbook_timing.py): one Debian 12 systemd container with sshd",
        "standing in for the server, Ansible over SSH (pipelining, multiplexed connections) as the `ubuntu` user with",
        f"sudo, on the 2-core CI machine; median of {ROUNDS} runs of each. Budgets: no-op re-run at most 30 s, app-only deploy at most 25 s.",
        "",
        "| run | measure | runs (s) | median (s) |",
        "|---|---|---|---:|",
    ]
    for label, run in runs.items():
        for measure, values in run["times"].items():
            lines.append(f"| {label} ({run['date']}) | {measure} | {', '.join(f'{v:.1f}' for v in values)} | {statistics.median(values):.1f} |")
    lines += ["", NOTES]
    text = "\n".join(lines)
    DOC.write_text(text)
    print(text)


if __name__ == "__main__":
    if sys.argv[1:] == ["--render"]:
        render(json.loads(RESULTS.read_text()))
    else:
        main()
