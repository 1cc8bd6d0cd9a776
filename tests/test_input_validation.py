"""Bad input stops a role at its first step, with a message naming the variable.

Each case runs the role in check mode against the control machine; a case
that got past validation would still change nothing.
"""

import json
import re

import pytest
from conftest import ROOT
from test_site_settings import PER_RUN, batches

GOOD = {
    "uwsgi": {"uwsgi_instance": "chatbot", "uwsgi_venv": "/srv/chatbot/venv", "uwsgi_chdir": "/srv/chatbot/app", "uwsgi_user": "chatbot"},
    "flask_app": {"flask_app_name": "chatbot", "flask_app_src": str(ROOT / "examples" / "chatbot")},
    "nginx": {},
    "python_venv": {"python_venv_path": "/srv/x/venv"},
    "firewall": {},
    "redis": {"redis_password": "0123456789abcdef0123456789abcdef"},
}
# A password the grammar refuses: no refusal may show it.
REDIS_BAD_PASSWORD = "hunter2 secret; requirepass"

CASES = [
    ("uwsgi", {"uwsgi_processes": "four"}, "uwsgi_processes"),
    ("uwsgi", {"uwsgi_user": "root"}, "uwsgi_user"),
    ("uwsgi", {"uwsgi_socket": "8000"}, "uwsgi_socket"),
    ("uwsgi", {"uwsgi_socket": "localhost:8000"}, "uwsgi_socket"),
    ("uwsgi", {"uwsgi_socket_group": "www data"}, "uwsgi_socket_group"),
    ("uwsgi", {"uwsgi_instance": ""}, "uwsgi_instance"),
    ("flask_app", {"flask_app_name": "Chat Bot"}, "flask_app_name"),
    ("flask_app", {"flask_app_src": "/nonexistent/app"}, "flask_app_src"),
    ("flask_app", {"flask_app_env": {"BAD-KEY": "x"}}, "flask_app_env"),
    ("flask_app", {"flask_app_artifacts": [{"dest": "model.bin"}]}, "src"),
    ("flask_app", {"flask_app_artifacts": [{"src": "/nonexistent/model.bin"}]}, "flask_app_artifacts"),
    ("flask_app", {"flask_app_requirements_file": "missing.txt"}, "flask_app_requirements_file"),
    ("flask_app", {"flask_app_wsgi": "app_flask"}, "flask_app_wsgi"),
    ("flask_app", {"flask_app_wsgi": "app_flask:create_app("}, "flask_app_wsgi"),
    ("flask_app", {"flask_app_source": "svn"}, "flask_app_source"),
    ("flask_app", {"flask_app_source": "git"}, "flask_app_git_repo"),
    ("flask_app", {"flask_app_source": "wheel", "flask_app_package_file": "/etc/hostname"}, "flask_app_package_file"),
    ("flask_app", {"flask_app_source": "packages"}, "flask_app_pip_packages"),
    ("flask_app", {"flask_app_healthcheck_url": "localhost/health"}, "flask_app_healthcheck_url"),
    ("flask_app", {"flask_app_healthcheck_url": "uwsgi://127.0.0.1:8000/health"}, "flask_app_healthcheck_url"),
    ("flask_app", {"flask_app_healthcheck_uwsgi_host": "10.0.0.5; rm -rf /"}, "flask_app_healthcheck_uwsgi_host"),
    ("flask_app", {"flask_app_healthcheck_uwsgi_port": 0}, "flask_app_healthcheck_uwsgi_port"),
    ("flask_app", {"flask_app_healthcheck_uwsgi_path": "health"}, "flask_app_healthcheck_uwsgi_path"),
    ("flask_app", {"flask_app_keep_releases": 0}, "flask_app_keep_releases"),
    ("flask_app", {"flask_app_shared_dirs": ["../uploads"]}, "flask_app_shared_dirs"),
    ("flask_app", {"flask_app_workdir": "/srv/app"}, "flask_app_workdir"),
    ("nginx", {"nginx_listen_port": 70000}, "nginx_listen_port"),
    ("nginx", {"nginx_upstream_servers": [{"server": "127.0.0.1 8000"}]}, "nginx_upstream_servers"),
    ("nginx", {"nginx_upstream_servers": ["127.0.0.1:8000"]}, "nginx_upstream_servers"),
    ("nginx", {"nginx_upstream_method": "fastest"}, "nginx_upstream_method"),
    ("nginx", {"nginx_upstream_method": "hash"}, "nginx_upstream_hash_key"),
    (
        "nginx",
        {"nginx_upstream_method": "ip_hash", "nginx_upstream_servers": [{"server": "a:1"}, {"server": "b:1", "backup": True}]},
        "backup",
    ),
    ("nginx", {"nginx_upstream_servers": [{"server": "a:1", "down": True}]}, "down"),
    ("nginx", {"nginx_upstream_servers": [{"server": "a:1", "down": True}, {"server": "b:1"}], "nginx_upstream_drained": ["b:1"]}, "nginx_upstream_drained"),
    ("nginx", {"nginx_upstream_servers": [{"server": "a:1", "weight": 0}]}, "weight"),
    ("nginx", {"nginx_upstream_next": ["error", "sometimes"]}, "nginx_upstream_next"),
    ("nginx", {"nginx_static_locations": [{"url": "static", "path": "/srv/x"}]}, "nginx_static_locations"),
    ("nginx", {"nginx_listen_ipv6": "maybe"}, "nginx_listen_ipv6"),
    ("nginx", {"nginx_client_max_body_size": "75 MB"}, "nginx_client_max_body_size"),
    ("nginx", {"nginx_remove_default_site": "maybe"}, "nginx_remove_default_site"),
    ("nginx", {"nginx_tls": True}, "nginx_tls_self_signed"),
    ("nginx", {"nginx_tls": True, "nginx_tls_self_signed": True, "nginx_tls_certificate_file": "/etc/ssl/a.pem"}, "exactly one"),
    ("nginx", {"nginx_tls": True, "nginx_tls_certificate": "-----BEGIN CERTIFICATE-----\nx"}, "nginx_tls_certificate_key"),
    ("nginx", {"nginx_tls": True, "nginx_tls_certificate_file": "fullchain.pem", "nginx_tls_certificate_key_file": "key.pem"}, "absolute"),
    ("nginx", {"nginx_tls": True, "nginx_tls_self_signed": True, "nginx_tls_port": 80}, "nginx_tls_port"),
    ("nginx", {"nginx_tls_protocols": ["TLSv1"]}, "nginx_tls_protocols"),
    ("nginx", {"nginx_gzip_types": ["css"]}, "nginx_gzip_types"),
    # nginx's sandbox hides /tmp (private) from it
    ("nginx", {"nginx_static_locations": [{"url": "/static/", "path": "/tmp/static"}]}, "nginx_sandbox"),
    ("nginx", {"nginx_sandbox_writable_paths": ["/var/cache/x/../../etc"]}, "nginx_sandbox_writable_paths"),
    ("flask_app", {"flask_app_public_dirs": ["../www"]}, "flask_app_public_dirs"),
    # Artifacts stay apart from what the app writes; an upgrade's old path is refused, naming the new one
    ("flask_app", {"flask_app_artifacts_dir": "/srv/chatbot/shared/data/models"}, "flask_app_artifacts_dir"),
    # It becomes a link: never the base directory, nor one of the releases' own paths
    ("flask_app", {"flask_app_artifacts_dir": "/srv/chatbot"}, "overlaps the releases' own paths (/srv/chatbot,"),
    ("flask_app", {"flask_app_artifacts_dir": "/srv/chatbot/releases/models"}, "overlaps the releases' own paths (/srv/chatbot/releases)"),
    ("flask_app", {"flask_app_reload_handlers": ["uwsgi reload"]}, "flask_app_reload_handlers is no longer used"),
    (
        "flask_app",
        {"flask_app_env": {"CHATBOT_MODEL_PATH": "/srv/chatbot/shared/data/chatbot-model.json"},
         "flask_app_artifacts": [{"src": str(ROOT / "examples" / "models" / "chatbot-model.json")}]},
        "use /srv/chatbot/shared/artifacts/chatbot-model.json",
    ),
    # A package's directory linked into the release: an import name, paths inside, a free dest
    ("flask_app", {"flask_app_package_dirs": [{"package": "os.path", "path": "static"}]}, "refused: ['os.path']"),
    ("flask_app", {"flask_app_package_dirs": [{"package": "myapp", "path": "../static"}]}, "refused: ['../static']"),
    ("flask_app", {"flask_app_package_dirs": [{"package": "myapp", "path": "static", "dest": "instance"}]}, "role's own (['instance'])"),
    # A constraints file: only for the packages source, a file on the control machine
    ("flask_app", {"flask_app_pip_constraints_file": str(ROOT / "requirements-dev.txt")}, "flask_app_pip_constraints_file"),
    ("flask_app", {"flask_app_source": "packages", "flask_app_pip_packages": ["myapp"], "flask_app_pip_constraints_file": "c.txt"},
     "flask_app_pip_constraints_file"),
    # Missing artifact: refused before any connection (the live release is never reached)
    ("flask_app", {"flask_app_artifacts": [{"src": str(ROOT / "examples" / "models" / "no-such-model.bin")}]}, "not found"),
    ("python_venv", {"python_venv_path": "venv"}, "python_venv_path"),
    ("firewall", {"firewall_ssh_ports": []}, "firewall_ssh_ports"),
    ("firewall", {"firewall_restricted_tcp_ports": [{"ports": [8000], "sources": ["web1.example.com"]}]}, "host names"),
    ("firewall", {"firewall_open_tcp_ports": [0]}, "firewall_open_tcp_ports"),
    # The allow-list grammar, in a role used alone (tests/test_grammar.py has the full table).
    ("uwsgi", {"uwsgi_user": "www-data"}, "uwsgi_user"),
    ("nginx", {"nginx_server_name": "example.com #"}, "nginx_server_name"),
    ("nginx", {"nginx_static_locations": [{"url": "/s/", "path": "/srv/x", "expires": "7d; } location ^~ /leak/ { alias /"}]},
     "nginx_static_locations"),
    ("python_venv", {"python_venv_packages": ["--index-url=https://evil.example/simple"]}, "python_venv_packages"),
    ("redis", {"redis_password": ""}, "redis_password"),
    ("redis", {"redis_password": REDIS_BAD_PASSWORD}, "redis_password does not match"),
    ("redis", {"redis_bind": []}, "redis_bind"),
    ("redis", {"redis_bind": "127.0.0.1"}, "redis_bind"),
    ("redis", {"redis_bind": ["localhost"]}, "redis_bind"),
    ("redis", {"redis_port": 0}, "redis_port"),
    ("redis", {"redis_maxmemory": "256 MB"}, "redis_maxmemory"),
]


# PER_RUN cases per run, each a host of its own (run locally, in check mode):
# one ansible-playbook per case cost most of this file's time.
@pytest.mark.parametrize("batch", batches(CASES), ids=[f"{i * PER_RUN:02d}-" + "-".join(c[2] for c in b[:2]) for i, b in enumerate(batches(CASES))])
def test_bad_input_fails_naming_the_variable(run_ansible, tmp_path, batch):
    hosts = {f"case{i:02d}": dict(GOOD[role], role_under_test=role, ansible_connection="local", **bad) for i, (role, bad, _) in enumerate(batch)}
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    result = run_ansible(["ansible-playbook", "--check", "-i", str(inventory), "-e", "apply_role_hosts=all", "tests/playbooks/apply_role.yml"],
                         env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    failed = dict(re.findall(r"^fatal: \[(\S+)\]: FAILED! => (\{.*\})$", out, re.M))
    for host, (role, bad, named) in zip(hosts, batch):
        assert host in failed and named in json.loads(failed[host])["msg"] + failed[host], f"{role} {bad}: not refused naming {named}\n{out}"
    # Nothing ran past validation: no task of the install step was reached.
    assert "Install" not in "\n".join(line for line in out.splitlines() if line.startswith("TASK")), out
    # A refused password is named, never shown (its batch has run with it).
    assert REDIS_BAD_PASSWORD.split()[0] not in out, out
