"""The Galaxy tarball holds what an installed collection uses and nothing else.

Allowed: the runtime (plugins, roles, playbooks, meta), Markdown docs, the
licence, the changelog, and the example inventory and app that the installed
playbooks deploy by default (inventories/tencent points at
{{ playbook_dir }}/../examples). Anything else (development config, tests,
benchmark data, changelog fragments) fails the test, naming the member.
"""

import fnmatch
import posixpath
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

ALLOWED = [
    "MANIFEST.json",
    "FILES.json",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    "changelogs",
    "changelogs/changelog.yaml",
    "changelogs/config.yaml",
    "meta",
    "meta/runtime.yml",
    "docs",
    "docs/*.md",
    "plugins",
    "plugins/*",
    "roles",
    "roles/*",
    "playbooks",
    "playbooks/*",
    "inventories",
    "inventories/tencent",
    "inventories/tencent/*",
    "examples",
    "examples/*",
]

# Not even inside an allowed directory.
FORBIDDEN = ["*/__pycache__", "*/__pycache__/*", "*.pyc", "*/.*", ".*", "playbooks/collections", "playbooks/collections/*"]

REQUIRED = [
    "MANIFEST.json",
    "FILES.json",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    "changelogs/changelog.yaml",
    "meta/runtime.yml",
    "playbooks/site.yml",
    "playbooks/deploy.yml",
    "playbooks/rollback.yml",
    "inventories/tencent/hosts.yml",
    "examples/chatbot/app_flask.py",
    "examples/models/chatbot-model.json",
    *[f"roles/{role}/{part}" for role in ("firewall", "flask_app", "nginx", "python_venv", "flaskstack", "redis", "uwsgi") for part in ("tasks/main.yml", "meta/argument_specs.yml", "README.md")],
    *[f"plugins/modules/{name}.py" for name in ("deploy_lock", "uwsgi_stats_info")],
]


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    tarball = out / f"flaskstack-deploy-{version}.tar.gz"
    assert tarball.is_file(), build.stdout
    with tarfile.open(tarball) as tar:
        return {member.name.rstrip("/"): member for member in tar.getmembers()}


def test_only_allowed_members(members):
    unexpected = sorted(
        name
        for name in members
        if not any(fnmatch.fnmatchcase(name, pattern) for pattern in ALLOWED) or any(fnmatch.fnmatchcase(name, pattern) for pattern in FORBIDDEN)
    )
    assert not unexpected, "not runtime, Markdown docs, licence or changelog; add them to galaxy.yml's build_ignore: " + ", ".join(unexpected)


def test_required_members(members):
    missing = [name for name in REQUIRED if name not in members or not members[name].isfile()]
    assert not missing, "missing from the tarball: " + ", ".join(missing)


def test_no_link_leaves_the_collection(members):
    """A symlink in the tarball must point inside the collection (Galaxy refuses others)."""
    outside = [
        f"{name} -> {member.linkname}"
        for name, member in members.items()
        if member.issym() and posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname)).startswith("..")
    ]
    assert not outside, "links leaving the collection: " + ", ".join(outside)
