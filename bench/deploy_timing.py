#!/usr/bin/env python3
"""Benchmark: deploy.yml (app only) against a full site.yml run, same container.

Not a test: it measures and writes docs/bench-deploy.md. Each round makes a
code-only change to a copy of the example app (a new VERSION), then deploys
it once with deploy.yml and once (another change) with site.yml, against the
demo container of inventories/local. Prints the median of ROUNDS runs of each
and their ratio.

    make bench        (starts the demo container first)
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import variant

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BIN = Path(sys.executable).parent


def playbook(name, src):
    args = [str(BIN / "ansible-playbook"), "-i", "inventories/local", name, "-e", f"flask_app_src={src}"]
    start = time.monotonic()
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    took = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return took




def main():
    with tempfile.TemporaryDirectory() as root:
        playbook("site.yml", variant(root, "bench-warmup"))
        deploy, site = [], []
        for n in range(ROUNDS):
            deploy.append(playbook("deploy.yml", variant(root, f"bench-{n}-deploy")))
            site.append(playbook("site.yml", variant(root, f"bench-{n}-site")))
            print(f"round {n + 1}: deploy.yml {deploy[-1]:.1f} s, site.yml {site[-1]:.1f} s", flush=True)
        playbook("site.yml", str(ROOT / "examples" / "chatbot"))

    med_deploy, med_site = statistics.median(deploy), statistics.median(site)
    lines = [
        "# deploy.yml against site.yml",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `make bench` (bench/deploy_timing.py): one Debian 12",
        "systemd container (the demo's), podman connection, 2-core CI machine. Each run deploys a",
        "code-only change (a new VERSION in the example app), so both playbooks build and switch",
        f"a release; median of {ROUNDS} runs each, taken alternately in one session.",
        "",
        "| playbook | runs (s) | median (s) |",
        "|---|---|---|",
        f"| deploy.yml | {', '.join(f'{t:.1f}' for t in deploy)} | {med_deploy:.1f} |",
        f"| site.yml | {', '.join(f'{t:.1f}' for t in site)} | {med_site:.1f} |",
        "",
        f"deploy.yml takes {med_deploy / med_site:.2f} of site.yml's time ({med_site / med_deploy:.1f}x faster).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "bench-deploy.md").write_text(text)


if __name__ == "__main__":
    main()
