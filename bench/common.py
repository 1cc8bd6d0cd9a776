"""Helpers shared by the benchmarks in bench/."""

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def variant(root, label):
    """A copy of the example app under ROOT/LABEL whose VERSION is LABEL: a code-only change."""
    dest = Path(root) / label
    shutil.copytree(ROOT / "examples" / "chatbot", dest)
    code = dest / "app_flask.py"
    code.write_text(code.read_text().replace('VERSION = "1"', f'VERSION = "{label}"'))
    return str(dest)
