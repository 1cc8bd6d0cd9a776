"""The flask_app role's account check (tasks/accounts.yml), read only, against this machine's accounts.

The host side of it (an account made by an earlier version adopted and
marked, a marked account given a login shell, a group of someone else's) is
checked in a container: see docs/safety.md and CONTRIBUTING.md.
"""

import json
import pwd

import pytest


def run_check(run_ansible, **settings):
    settings.setdefault("flask_app_name", "chatbot")
    result = run_ansible(["ansible-playbook", "tests/playbooks/accounts.yml", "-e", json.dumps(settings)], timeout=120)
    return result, result.stdout + result.stderr


def test_free_names_pass(run_ansible):
    result, out = run_check(run_ansible, flask_app_name="flaskstack-free-x9")
    assert result.returncode == 0, out


@pytest.mark.parametrize("name", ["root", "bin"])
def test_an_existing_account_the_collection_did_not_make_is_refused(run_ansible, name):
    entry = pwd.getpwnam(name)
    result, out = run_check(run_ansible, flask_app_user=name, flask_app_group="flaskstack-free-x9")
    assert result.returncode != 0, out
    text = " ".join(out.split())
    assert f"flask_app_user ('{name}'): localhost has an account of that name that flaskstack.deploy did not create" in text, out
    assert f"uid {entry.pw_uid}" in text and "Nothing was changed" in text, out


def test_an_existing_group_that_is_not_the_apps_is_refused(run_ansible):
    result, out = run_check(run_ansible, flask_app_name="flaskstack-free-x9", flask_app_group="root")
    assert result.returncode != 0, out
    assert "flask_app_group ('root'): localhost has a group of that name (gid 0)" in " ".join(out.split()), out
