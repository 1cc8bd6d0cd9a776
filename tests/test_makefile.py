"""`make help` lists every target of the Makefile with its one line."""

import re
import subprocess

from conftest import ROOT


def test_every_target_in_help():
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):(?!=)", text, re.M))
    documented = dict(re.findall(r"^## ([a-z][a-z0-9-]*): (\S.*)$", text, re.M))
    assert not targets - set(documented), "targets without a '## target: text' line: " + ", ".join(sorted(targets - set(documented)))
    assert not set(documented) - targets, "'## ' lines naming no target: " + ", ".join(sorted(set(documented) - targets))

    result = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert listed == targets, result.stdout
