#!/usr/bin/env python3
"""Syntax-check every playbook and run check.yml on each ansible-core minor version.

One virtualenv per minor version under .cache/matrix/ (made on the first run,
reused while its pin is unchanged), each with the controller Python that
version needs. On each version:

- ``ansible-playbook --syntax-check`` of site.yml, deploy.yml, rollback.yml and
  playbooks/*.yml (inventories/tencent);
- ``ansible-playbook playbooks/check.yml`` against inventories/local and
  inventories/tencent. check.yml gathers no facts and runs only checks on the
  control machine, so it never contacts a server: a task that did would show
  as UNREACHABLE (203.0.113.10 is a documentation address) and fail the row;
- the flask_app role's host-side account check (tests/playbooks/accounts.yml,
  read only, against this machine's accounts): a free name passes, the
  existing account "bin" is refused. It templates what getent found, which
  older versions render differently (a null became the string 'None').

Prints a table: version, Python, result, time to make the venv (0 when
cached), time of the checks. Logs in .cache/matrix/logs/.

    tools/version_matrix.py            # every version below
    tools/version_matrix.py 2.16 2.21  # some of them
    tools/version_matrix.py --venv 2.16  # only make (or reuse) the venv; print its path
    tools/version_matrix.py --venv       # the same for every version (make setup)
    MATRIX_JOBS=1 tools/version_matrix.py  # one version at a time (default 2)

Exit status 1 when any version fails.
"""

import concurrent.futures
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "matrix"

# minor version -> (pinned release, controller Python). 2.16 is what Ubuntu
# 24.04 ships; 2.20 and later need Python 3.12 or newer on the controller.
VERSIONS = {
    "2.16": ("2.16.19", "3.11"),
    "2.17": ("2.17.14", "3.11"),
    "2.18": ("2.18.19", "3.11"),
    "2.19": ("2.19.14", "3.11"),
    "2.20": ("2.20.10", "3.12"),
    "2.21": ("2.21.5", "3.13"),
}

INVENTORIES = ["inventories/local", "inventories/tencent"]


def find_python(version):
    """pythonX.Y from PATH, else from pyenv's versions directory."""
    override = os.environ.get("MATRIX_PYTHON_" + version.replace(".", "_"))
    if override:
        return override
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "-V"], capture_output=True, check=False).returncode == 0:
        return found
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}"))
    if candidates:
        return candidates[-1]
    sys.exit(f"version_matrix: no python{version} on PATH or under {pyenv}/versions (set MATRIX_PYTHON_{version.replace('.', '_')})")


def ensure_venv(minor, pin, python, log):
    """Make (or reuse) the venv; returns the seconds spent making it (0.0 if cached)."""
    venv = CACHE / minor
    stamp = venv / ".installed"
    want = f"ansible-core=={pin} python{python}\n"
    if stamp.is_file() and stamp.read_text() == want:
        return 0.0
    start = time.monotonic()
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([find_python(python), "-m", "venv", str(venv)], check=True, stdout=log, stderr=subprocess.STDOUT)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"ansible-core=={pin}"],
        check=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stamp.write_text(want)
    return time.monotonic() - start


def collections_path():
    """The checkout's collection, and the collections from the dev venv's ansible
    package that the checks and Molecule use and ansible-core lacks:
    containers.podman (the connection of inventories/local, Molecule's driver)
    and ansible.posix (the timer callback of the Molecule steps)."""
    for name in ("containers/podman", "ansible/posix"):
        found = sorted(glob.glob(str(ROOT / f".venv/lib/python3*/site-packages/ansible_collections/{name}")))
        if not found:
            sys.exit(f"version_matrix: {name.replace('/', '.')} not found in .venv (make venv installs it with the ansible package)")
        link = CACHE / "collections" / "ansible_collections" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink() or os.readlink(link) != found[-1]:
            if link.is_symlink():
                link.unlink()
            link.symlink_to(found[-1])
    return f"{ROOT / '.collections'}:{CACHE / 'collections'}"


def run(venv, args, log):
    """Run one ansible command from the version's venv with the checkout's config."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env["ANSIBLE_COLLECTIONS_PATH"] = collections_path()
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    log.write(f"\n$ {' '.join(args)}\n")
    log.flush()
    proc = subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    log.write(proc.stdout + proc.stderr)
    log.flush()
    return proc


def failed_task(output):
    """The task that failed and the gist of its message (the log has it all)."""
    task, message = "", []
    lines = output.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("TASK ["):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        if line.startswith(("fatal:", "ERROR!", "[ERROR]")) or "UNREACHABLE" in line:
            message = [line.strip()]
            for more in lines[number + 1 :]:
                if not more.strip():
                    break
                message.append(more.strip())
            break
    text = " ".join(message)
    for marker in ("msg: ", "original message: ", "): "):
        if marker in text:
            text = text.split(marker)[-1]
    text = text[:300]
    return f"task '{task}': {text}" if task else text


FREE_ACCOUNT = {"flask_app_name": "flaskstack-free-x9"}
SYSTEM_ACCOUNT = {"flask_app_name": "chatbot", "flask_app_user": "bin", "flask_app_group": "flaskstack-free-x9"}


def check_version(minor):
    pin, python = VERSIONS[minor]
    (CACHE / "logs").mkdir(parents=True, exist_ok=True)
    with open(CACHE / "logs" / f"{minor}.log", "w", encoding="utf-8") as log:
        install = ensure_venv(minor, pin, python, log)
        venv = CACHE / minor
        start = time.monotonic()
        problems = []
        playbooks = ["site.yml", "deploy.yml", "rollback.yml", *sorted(glob.glob("playbooks/*.yml", root_dir=ROOT))]
        for playbook in playbooks:
            proc = run(venv, ["ansible-playbook", "--syntax-check", "-i", "inventories/tencent", playbook], log)
            if proc.returncode != 0:
                problems.append(f"syntax {playbook}: {failed_task(proc.stdout + proc.stderr)}")
        for inventory in INVENTORIES:
            proc = run(venv, ["ansible-playbook", "-i", inventory, "playbooks/check.yml"], log)
            output = proc.stdout + proc.stderr
            if proc.returncode != 0 or "UNREACHABLE" in output:
                problems.append(f"check.yml -i {inventory}: {failed_task(output)}")
        for settings, refused in ((FREE_ACCOUNT, False), (SYSTEM_ACCOUNT, True)):
            proc = run(venv, ["ansible-playbook", "tests/playbooks/accounts.yml", "-e", json.dumps(settings)], log)
            output = proc.stdout + proc.stderr
            if refused != (proc.returncode != 0) or (refused and "did not create" not in " ".join(output.split())):
                problems.append(f"accounts.yml {settings}: {failed_task(output)}")
        return pin, python, problems, install, time.monotonic() - start


def venv_only(minors):
    """Make (or reuse) these versions' venvs for another tool (run_scenarios.sh
    converges a Molecule scenario with one; `make setup` makes them all before
    the timed stages); print their paths."""
    collections_path()
    (CACHE / "logs").mkdir(parents=True, exist_ok=True)
    for minor in minors:
        with open(CACHE / "logs" / f"{minor}-venv.log", "w", encoding="utf-8") as log:
            ensure_venv(minor, *VERSIONS[minor], log)
        print(CACHE / minor)
    return 0


def main(argv):
    venv_mode = argv[:1] == ["--venv"]
    minors = (argv[1:] if venv_mode else argv) or list(VERSIONS)
    unknown = [minor for minor in minors if minor not in VERSIONS]
    if unknown:
        sys.exit(f"version_matrix: unknown version(s) {', '.join(unknown)}; known: {', '.join(VERSIONS)}")
    if venv_mode:
        return venv_only(minors)
    # Two at a time by default (MATRIX_JOBS): each check is one Python process.
    collections_path()
    jobs = int(os.environ.get("MATRIX_JOBS", "2"))
    print(f"ansible-core {', '.join(minors)}, {jobs} at a time; logs in {CACHE / 'logs'}", flush=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = [(minor, *result) for minor, result in zip(minors, pool.map(check_version, minors))]
    print()
    print(f"{'ansible-core':<14}{'python':<8}{'result':<8}{'venv s':>8}{'checks s':>10}")
    for minor, pin, python, problems, install, checks in rows:
        print(f"{pin:<14}{python:<8}{'FAIL' if problems else 'ok':<8}{install:>8.1f}{checks:>10.1f}")
    failures = [(pin, problem) for _, pin, _, problems, _, _ in rows for problem in problems]
    for pin, problem in failures:
        print(f"  {pin}: {problem}")
    if failures:
        print(f"logs: {CACHE / 'logs'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
