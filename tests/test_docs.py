"""The generated docs are up to date, and each role's example playbook passes the role's checks."""

import json
import subprocess
import sys

import pytest
from conftest import ROLES, ROOT

# One bad value per role: the same example with it must be refused, naming it,
# so a passing example shows that the checks ran, not that they were skipped.
BAD = {
    "firewall": {"firewall_ssh_ports": [70000]},
    "flask_app": {"flask_app_wsgi": "no callable"},
    "nginx": {"nginx_listen_port": 0},
    "python_venv": {"python_venv_path": "relative/venv"},
    "flaskstack": {"flaskstack_http_port": 0},
    "uwsgi": {"uwsgi_processes": -1},
    "redis": {"redis_port": 70000},
}
# What an example takes from the user's vault (group_vars/all/vault.yml), given on the command line.
VAULT = {
    "redis": {"vault_redis_password": "0123456789abcdef0123456789abcdef"},
}


def test_generated_docs_are_current():
    result = subprocess.run([sys.executable, "tools/docs.py", "--check"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_role_has_an_example_and_a_bad_case():
    assert sorted(BAD) == ROLES
    assert sorted(path.stem for path in (ROOT / "examples" / "roles").glob("*.yml")) == ROLES


@pytest.fixture()
def local_inventory(tmp_path):
    """This machine as an app and web server, connected to locally (only the checks run)."""
    inventory = tmp_path / "hosts.yml"
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "hosts": {"localhost": host},
                    "children": {"appservers": {"hosts": {"localhost": None}}, "webservers": {"hosts": {"localhost": None}}},
                }
            }
        )
    )
    return str(inventory)


@pytest.mark.parametrize("role", ROLES)
def test_role_example_passes_the_role_checks(role, run_ansible, local_inventory):
    example = f"examples/roles/{role}.yml"
    vault = ["-e", json.dumps(VAULT[role])] if role in VAULT else []
    good = run_ansible(["ansible-playbook", "-i", local_inventory, example, "--tags", f"{role}_validate", *vault])
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-2000:]
    assert "Validating arguments against arg spec 'main'" in good.stdout, good.stdout[-2000:]
    assert "changed=0" in good.stdout, good.stdout[-2000:]

    (name, value), = BAD[role].items()
    bad = run_ansible(["ansible-playbook", "-i", local_inventory, example, "--tags", f"{role}_validate", *vault, "-e", json.dumps({name: value})])
    assert bad.returncode != 0, bad.stdout[-2000:]
    assert name in bad.stdout, bad.stdout[-3000:]
