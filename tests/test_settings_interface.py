"""What a user writes in the inventory is honoured or refused, never silently replaced.

- Every role variable that playbooks/vars/stack.yml derives, set in group_vars
  to another value: refused by check.yml naming it (before any server is
  touched), or, for the few documented as "derived unless set", used as given.
- Role variables the playbooks do not derive reach the roles as written.
- A value given as `-e name=value` (a string) is checked like the same value in
  the inventory, for every numeric and boolean setting.
- README's vault step, followed literally, works.

The runs are of playbooks/check.yml, the play site.yml and deploy.yml start
with (test_site_settings.py proves it), against tests/inventory's server,
which cannot be reached and is never contacted by that play.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROLES, ROOT

WIRING = yaml.safe_load((ROOT / "playbooks" / "vars" / "stack.yml").read_text())
DERIVED = sorted(name for name in WIRING if not name.startswith("_"))
# Derived unless the inventory sets them (docs/settings.md), with a value to set.
HONOURED = {
    "nginx_upstream_servers": [{"server": "127.0.0.1:9001"}],
    "nginx_uwsgi_read_timeout": 99,
    "uwsgi_writable_paths": ["/srv/chatbot/shared", "/var/tmp/chatbot"],
    "uwsgi_umask": "0077",
    "firewall_ssh_ports": [2222],
    "flask_app_healthcheck_headers": {"Host": "chat.example.org"},
    "flask_app_restart_units": ["chatbot-workers.target", "chatbot-mailer.service"],
    "uwsgi_tasks_environment_file": "/etc/chatbot/workers.env",
}
# Role variables the playbooks leave alone, with a valid value other than the default.
PASSED_THROUGH = {
    "uwsgi_threads": 8,
    "uwsgi_processes": 3,
    "nginx_client_max_body_size": "10M",
    "flask_app_keep_releases": 3,
    # (nginx_hsts: true would be refused with TLS off: it would do nothing.)
    "nginx_hsts_max_age": 31536000,
}
SPECS = {role: yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"] for role in ROLES}


def other_value(name):
    """A value of the variable's type that differs from anything derived."""
    role = next(r for r in ROLES if name.startswith(r + "_"))
    kind = SPECS[role][name]["type"]
    return {
        "int": 4242,
        "bool": True,
        "list": ["/nowhere"],
        "dict": {"OTHER_KEY": "other-value"},
        "str": "other-value",
        "raw": "other-value",
    }[kind]


def inventory(tmp_path, group_vars):
    """tests/inventory's unreachable server with the tencent settings plus group_vars/all/override.yml."""
    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "inventory" / "hosts.yml", inv / "hosts.yml")
    for path in (ROOT / "inventories" / "tencent" / "group_vars" / "all").iterdir():
        shutil.copy(path, inv / "group_vars" / "all" / path.name)
    (inv / "group_vars" / "all" / "override.yml").write_text(yaml.safe_dump(group_vars))
    return inv


def run(run_ansible, inv, *args, playbook="playbooks/check.yml"):
    env = {"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    result = run_ansible(["ansible-playbook", playbook, "-i", str(inv), *args], env=env, timeout=180)
    return result, result.stdout + result.stderr


def passed_the_checks(out):
    return "PLAY RECAP" in out and "failed=0" in out and "UNREACHABLE" not in out


def test_every_derived_variable_says_what_it_comes_from():
    """stack.yml's two lists (the source of check.yml's messages and of
    docs/settings.md) name each role variable it sets, once."""
    strict, honoured = WIRING["_stack_derived_from"], WIRING["_stack_derived_unless_set"]
    assert not set(strict) & set(honoured)
    assert sorted(set(strict) | set(honoured)) == DERIVED
    assert set(HONOURED) == set(honoured)
    assert not set(PASSED_THROUGH) & set(DERIVED)
    settings = (ROOT / "docs" / "settings.md").read_text()
    table = settings.split("Derived unless the inventory sets them")[1]
    for name in honoured:
        assert f"`{name}`" in table, name


def test_derived_role_variables_set_otherwise_are_refused_naming_each(run_ansible, tmp_path):
    strict = [name for name in DERIVED if name not in HONOURED]
    inv = inventory(tmp_path, {name: other_value(name) for name in strict})
    result, out = run(run_ansible, inv)
    assert result.returncode != 0 and not passed_the_checks(out), out
    message = out.split("Refuse derived role variables")[1]
    missing = [name for name in strict if f"{name} is set to" not in message]
    assert not missing, f"not refused: {missing}\n{message}"


@pytest.mark.parametrize("name", ["uwsgi_socket", "nginx_server_name", "nginx_tls", "flask_app_name"])
def test_a_refusal_names_the_site_setting_to_use(run_ansible, tmp_path, name):
    inv = inventory(tmp_path, {name: other_value(name)})
    result, out = run(run_ansible, inv)
    assert result.returncode != 0 and not passed_the_checks(out), out
    assert f"{name} is set to" in out and "(from flaskstack_" in out and "set the site setting instead" in out, out


def test_derived_role_variables_set_to_what_is_derived_pass(run_ansible, tmp_path):
    same = {"nginx_listen_port": 80, "uwsgi_socket": "127.0.0.1:8000", "nginx_tls": False, "flask_app_name": "chatbot"}
    result, out = run(run_ansible, inventory(tmp_path, same))
    assert passed_the_checks(out), out


def test_honoured_and_passed_through_values_reach_the_roles(run_ansible, tmp_path):
    given = dict(HONOURED, **PASSED_THROUGH)
    inv = inventory(tmp_path, given)
    result, out = run(run_ansible, inv)
    assert passed_the_checks(out), out
    result, out = run(run_ansible, inv, "-e", json.dumps({"wiring_names": sorted(given)}), playbook="tests/playbooks/wiring.yml")
    assert result.returncode == 0, out
    line = next(line for line in out.splitlines() if '"msg": "WIRING ' in line)
    seen = json.loads(json.loads(line.split('"msg": ', 1)[1].rstrip(","))[len("WIRING ") :])
    assert seen == given


def numeric_and_boolean_settings():
    """Every int and bool variable no playbook derives, with its default value."""
    found = {}
    for role, options in SPECS.items():
        for name, spec in options.items():
            if spec["type"] in ("int", "bool") and name not in DERIVED and name not in ("flaskstack_app_only",) and "default" in spec:
                found[name] = spec["default"]
    return found


def test_every_numeric_and_boolean_setting_can_come_from_the_command_line(run_ansible, tmp_path):
    settings = numeric_and_boolean_settings()
    assert len(settings) >= 30, settings
    # As strings, the way -e name=value gives them ...
    args = [arg for name, value in settings.items() for arg in ("-e", f"{name}={str(value).lower()}")]
    result, out = run(run_ansible, "tests/inventory", *args)
    assert passed_the_checks(out), out
    # ... and typed, the way the inventory gives them.
    result, out = run(run_ansible, inventory(tmp_path, settings))
    assert passed_the_checks(out), out


@pytest.mark.parametrize(
    ("name", "bad"),
    [("uwsgi_threads", 0), ("flaskstack_http_port", 70000), ("nginx_rate_limit", -1), ("flask_app_keep_releases", 0)],
)
def test_a_bad_number_is_refused_both_ways(run_ansible, tmp_path, name, bad):
    for args, inv in (((f"-e", f"{name}={bad}"), "tests/inventory"), ((), inventory(tmp_path, {name: bad}))):
        result, out = run(run_ansible, inv, *args)
        assert result.returncode != 0 and not passed_the_checks(out), out
        assert name in out, out


def test_readme_vault_step_works_as_written(run_ansible, tmp_path):
    # README: put the secrets in group_vars/all/vault.yml, encrypt it, run with the vault password.
    readme = (ROOT / "README.md").read_text()
    assert "ansible-vault encrypt inventories/tencent/group_vars/all/vault.yml" in readme
    assert "--ask-vault-pass" in readme
    inv = inventory(tmp_path, {})
    (inv / "group_vars" / "all" / "override.yml").unlink()
    vault = inv / "group_vars" / "all" / "vault.yml"
    secret = "vault-S3cret-Value-0815"
    vault.write_text(f"---\nvault_flask_app_secrets:\n  SECRET_KEY: {secret}\n")
    password = tmp_path / "password"
    password.write_text("correct horse battery staple\n")
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "ansible-vault"), "encrypt", "--vault-password-file", str(password), str(vault)], check=True, cwd=ROOT)
    assert secret not in vault.read_text()
    result, out = run(run_ansible, inv, "--vault-password-file", str(password), "-v")
    assert passed_the_checks(out), out
    assert secret not in out
    # The vault is read: a bad key in it is refused (named, its value not shown).
    vault.write_text(f"---\nvault_flask_app_secrets:\n  BAD-KEY: {secret}\n")
    subprocess.run([str(bindir / "ansible-vault"), "encrypt", "--vault-password-file", str(password), str(vault)], check=True, cwd=ROOT)
    result, out = run(run_ansible, inv, "--vault-password-file", str(password), "-v")
    assert result.returncode != 0 and "BAD-KEY" in out and not passed_the_checks(out), out
    assert secret not in out
