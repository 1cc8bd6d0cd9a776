"""Fast tests: no containers. They run before Molecule."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if (path / "tasks" / "main.yml").exists())
BIN = Path(sys.executable).parent


@pytest.fixture()
def run_ansible():
    """Run an ansible command from the venv; returns the CompletedProcess."""

    def _run(args, cwd=ROOT, env=None, timeout=300):
        full_env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        full_env.update(env or {})
        return subprocess.run(
            [str(BIN / args[0]), *args[1:]],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return _run
