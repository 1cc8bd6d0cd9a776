"""A checkout runs its own collection, whatever ANSIBLE_COLLECTIONS_PATH says.

ANSIBLE_COLLECTIONS_PATH replaces ansible.cfg's collections_path; the
committed collections -> .collections link (Ansible looks next to the
playbook first) and ansible.cfg's playbook_dir keep the checkout's
collection in use, also over another installed version. `make install`
installs the built tarball although the checkout itself is on ansible.cfg's
path (where plain `ansible-galaxy collection install` says "Nothing to do").
"""

import os
import shutil
import subprocess

import pytest

from conftest import ROOT

ENTRY_POINTS = ["site.yml", "deploy.yml", "rollback.yml"]


@pytest.fixture()
def other_install(tmp_path):
    """A collections path holding another flaskstack.deploy: no roles, no modules."""
    stub = tmp_path / "other" / "ansible_collections" / "flaskstack" / "deploy"
    (stub / "meta").mkdir(parents=True)
    (stub / "meta" / "runtime.yml").write_text("---\nrequires_ansible: '>=2.16.0'\n")
    (stub / "galaxy.yml").write_text("namespace: flaskstack\nname: deploy\nversion: 0.0.1\nreadme: README.md\nauthors: [x]\n")
    (stub / "README.md").write_text("stub\n")
    return tmp_path / "other"


@pytest.mark.parametrize("where", ["empty", "other"])
def test_entry_points_use_the_checkout(run_ansible, tmp_path, other_install, where):
    path = tmp_path / "empty" if where == "empty" else other_install
    env = {"ANSIBLE_COLLECTIONS_PATH": str(path)}
    result = run_ansible(["ansible-playbook", "--syntax-check", "-i", "inventories/tencent", *ENTRY_POINTS], env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ad_hoc_commands_use_the_checkout(run_ansible, other_install):
    env = {"ANSIBLE_COLLECTIONS_PATH": str(other_install)}
    doc = run_ansible(["ansible-doc", "-t", "module", "flaskstack.deploy.deploy_lock"], env=env)
    assert doc.returncode == 0, doc.stderr
    assert f"({ROOT}/collections/ansible_collections/flaskstack/deploy/plugins/modules/deploy_lock.py)" in doc.stdout, doc.stdout
    # Resolved and run (it then fails: nothing listens on that socket).
    module = run_ansible(["ansible", "localhost", "-m", "flaskstack.deploy.uwsgi_stats_info", "-a", "socket=/nonexistent.sock"], env=env)
    assert "Cannot read uWSGI's stats from /nonexistent.sock" in module.stdout + module.stderr, module.stdout + module.stderr


def test_make_install_from_the_checkout(tmp_path):
    dest = tmp_path / "collections"
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    env.pop("MAKEFLAGS", None)
    result = subprocess.run(
        [shutil.which("make") or "make", "-s", "install", f"INSTALL_PATH={dest}", f"INSTALL_BUILD={tmp_path / 'dist'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    installed = dest / "ansible_collections" / "flaskstack" / "deploy"
    assert (installed / "MANIFEST.json").is_file(), result.stdout
    assert not installed.is_symlink()
