"""Bad site settings stop site.yml in its first play, before any server is touched.

site.yml and deploy.yml import playbooks/check.yml as their first play (the
first tests below prove it, and that a refusal there stops site.yml before
any connection). The tables' cases then run through check.yml itself, several
per run, each case the settings of an unreachable server of its own (on top
of the tencent inventory's settings): the same play, without loading the
roles of the plays after it. check.yml checks every server to the end of its
checks, so each case must be refused by name, in the check play, with no
connection attempt; a case that got past the checks ends without a failure
(through site.yml: UNREACHABLE at fact gathering).
"""

import json
import re

import pytest
import yaml
from conftest import ROOT

CHECK_PLAY = "PLAY [Check every setting before touching a server]"
MODEL = str(ROOT / "examples" / "models" / "chatbot-model.json")

# (bad settings, text the message must contain)
CASES = [
    ({"flaskstack_app_name": "Chat Bot"}, "flaskstack_app_name"),
    ({"flaskstack_app_name": "../etc"}, "flaskstack_app_name"),
    ({"flaskstack_app_name": "chat/bot"}, "flaskstack_app_name"),
    ({"flaskstack_app_name": "root"}, "flaskstack_app_name"),
    ({"flaskstack_app_base_dir": "srv/chatbot"}, "flaskstack_app_base_dir"),
    ({"flaskstack_app_base_dir": "/srv/../etc"}, "flaskstack_app_base_dir"),
    ({"flask_app_src": ""}, "flask_app_src"),
    ({"flask_app_src": "examples/chatbot"}, "flask_app_src"),
    ({"flask_app_src": "/nonexistent/app"}, "flask_app_src"),
    ({"flask_app_source": "svn"}, "flask_app_source"),
    ({"flask_app_source": "git"}, "flask_app_git_repo"),
    ({"flask_app_source": "wheel", "flask_app_package_file": MODEL}, "flask_app_package_file"),
    ({"flask_app_source": "packages"}, "flask_app_pip_packages"),
    ({"flask_app_wsgi": "app_flask"}, "flask_app_wsgi"),
    ({"flask_app_wsgi": "app_flask:create_app("}, "flask_app_wsgi"),
    ({"flask_app_requirements_file": "missing.txt"}, "flask_app_requirements_file"),
    ({"flask_app_requirements_file": "/srv/requirements.txt"}, "flask_app_requirements_file"),
    ({"flask_app_shared_dirs": ["../uploads"]}, "flask_app_shared_dirs"),
    ({"flask_app_workdir": "/srv/app"}, "flask_app_workdir"),
    ({"flask_app_env": {"BAD-KEY": "x"}}, "flask_app_env"),
    ({"flask_app_env": ["CHATBOT_MODEL_PATH=/srv/model.json"]}, "flask_app_env"),
    ({"flask_app_artifacts": [{"dest": "model.bin"}]}, "flask_app_artifacts"),
    ({"flask_app_artifacts": [{"src": "/nonexistent/model.bin"}]}, "flask_app_artifacts"),
    ({"flask_app_artifacts": [{"src": MODEL, "dest": "../../etc/cron.d/x"}]}, "flask_app_artifacts"),
    ({"flask_app_config_files": [{"src": "examples/chatbot/app_flask.py", "dest": "settings.py"}]}, "flask_app_config_files"),
    ({"flask_app_config_files": [{"src": "/nonexistent/settings.py.j2", "dest": "settings.py"}]}, "flask_app_config_files"),
    ({"flask_app_config_files": [{"src": MODEL, "dest": "../settings.py"}]}, "flask_app_config_files"),
    ({"flask_app_config_files": [{"src": MODEL, "dest": "instance/settings.py"}]}, "flask_app_config_files"),
    ({"flask_app_config_files": [{"src": MODEL, "dest": "flaskstack_env.py"}]}, "flask_app_config_files"),
    ({"flask_app_config_files": [{"src": MODEL, "dest": "a.json"}, {"src": MODEL, "dest": "a.json"}]}, "flask_app_config_files"),
    ({"flask_app_config_files": [{"src": MODEL, "dest": "a.json", "mode": "4755"}]}, "flask_app_config_files"),
    ({"flask_app_config_files": [{"src": MODEL}]}, "flask_app_config_files"),
    ({"flask_app_keep_releases": 0}, "flask_app_keep_releases"),
    ({"flaskstack_healthcheck_path": "health"}, "flaskstack_healthcheck_path"),
    ({"flaskstack_healthcheck_path": "/he alth"}, "flaskstack_healthcheck_path"),
    ({"flask_app_healthcheck_status": 999}, "flask_app_healthcheck_status"),
    ({"flaskstack_uwsgi_port": 70000}, "flaskstack_uwsgi_port"),
    ({"flaskstack_uwsgi_port": 0}, "flaskstack_uwsgi_port"),
    ({"flaskstack_uwsgi_port": "http"}, "flaskstack_uwsgi_port"),
    ({"flaskstack_uwsgi_port": 80}, "flaskstack_uwsgi_port"),
    ({"flaskstack_http_port": 65536}, "flaskstack_http_port"),
    ({"uwsgi_processes": -1}, "uwsgi_processes"),
    ({"uwsgi_processes": "four"}, "uwsgi_processes"),
    ({"uwsgi_threads": -1}, "uwsgi_threads"),
    ({"flaskstack_uwsgi_harakiri": -5}, "flaskstack_uwsgi_harakiri"),
    ({"flaskstack_uwsgi_socket": "8000"}, "flaskstack_uwsgi_socket"),
    ({"flaskstack_uwsgi_socket": "localhost:8000"}, "flaskstack_uwsgi_socket"),
    ({"flaskstack_uwsgi_unix_socket": True, "flaskstack_uwsgi_socket": "127.0.0.1:9000"}, "flaskstack_uwsgi_unix_socket"),
    ({"flaskstack_uwsgi_unix_socket": "sometimes"}, "flaskstack_uwsgi_unix_socket"),
    ({"nginx_upstream_method": "fastest"}, "nginx_upstream_method"),
    ({"nginx_upstream_servers": [{"server": "127.0.0.1 8000"}]}, "nginx_upstream_servers"),
    ({"flaskstack_server_name": "example.com;"}, "flaskstack_server_name"),
    ({"nginx_client_max_body_size": "75 MB"}, "nginx_client_max_body_size"),
    ({"nginx_rate_limit": -1}, "nginx_rate_limit"),
    ({"nginx_static_locations": [{"url": "static", "path": "/srv/x"}]}, "nginx_static_locations"),
    ({"nginx_static_locations": [{"url": "/static/", "path": "static"}]}, "nginx_static_locations"),
    ({"flaskstack_tls": True}, "nginx_tls_self_signed"),
    ({"flaskstack_tls": True, "nginx_tls_self_signed": True, "flaskstack_https_port": 80}, "flaskstack_https_port"),
    ({"flaskstack_tls": True, "nginx_tls_certificate_file": "fullchain.pem", "nginx_tls_certificate_key_file": "key.pem"},
     "nginx_tls_certificate_file"),
    ({"flaskstack_tls": True, "nginx_tls_certificate": "-----BEGIN CERTIFICATE-----\nx"}, "nginx_tls_certificate_key"),
    ({"flaskstack_tls": "sometimes"}, "flaskstack_tls"),
    ({"nginx_hsts": "maybe"}, "nginx_hsts"),
    ({"nginx_acme_webroot": "acme"}, "nginx_acme_webroot"),
    ({"flaskstack_firewall": "maybe"}, "flaskstack_firewall"),
    ({"flaskstack_firewall_uwsgi_ports": [8000, 99999]}, "flaskstack_firewall_uwsgi_ports"),
    ({"flaskstack_rolling_batch": 0}, "flaskstack_rolling_batch"),
    ({"flaskstack_cluster": "blue green"}, "flaskstack_cluster"),
    ({"flaskstack_uwsgi_proceses": 8}, "flaskstack_uwsgi_proceses"),
    # Role variables set straight in the inventory are checked in the same play.
    ({"nginx_upstream_method": "hash"}, "nginx_upstream_hash_key"),
    ({"uwsgi_buffer_size": 1024}, "uwsgi_buffer_size"),
]


CHECK = "playbooks/check.yml"


def run_site(run_ansible, extra, inventory="tests/inventory", playbook=CHECK, verbose=False):
    args = ["ansible-playbook", playbook, "-i", inventory, "-e", json.dumps(extra)]
    if verbose:
        args.append("-v")
    result = run_ansible(args, timeout=120)
    return result, result.stdout + result.stderr


def assert_refused_before_any_server(result, out, named):
    assert result.returncode != 0, out
    assert named in out, out
    assert "UNREACHABLE" not in out, f"the run got past the checks:\n{out}"
    plays = [line for line in out.splitlines() if line.startswith("PLAY [")]
    assert len(plays) == 1 and plays[0].startswith(CHECK_PLAY), out


# Cases per run: each is the settings of a server of its own in one inventory
# (check.yml checks every server to the end of its checks before it stops the
# run). More per run costs more than it saves: the check play's time grows
# faster than the number of servers.
PER_RUN = 6


def refused_each(run_ansible, tmp_path, cases, playbook=CHECK):
    """Run PLAYBOOK once with one unreachable server per case, each in a
    cluster of its own (no case sees another's settings). Returns the result,
    the output and each case's failure message (None if it was not refused)."""
    hosts = {f"case{i:02d}": {"flaskstack_cluster": f"case{i:02d}", **bad} for i, bad in enumerate(cases)}
    for hv in hosts.values():
        hv.setdefault("ansible_ssh_common_args", "-o ConnectTimeout=5 -o BatchMode=yes")
    inventory = write_inventory(tmp_path, hosts, list(hosts), list(hosts))
    result = run_ansible(["ansible-playbook", playbook, "-i", inventory], env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"},
                         timeout=300)
    out = result.stdout + result.stderr
    failed = dict(re.findall(r"^fatal: \[(\S+)\]: FAILED! => (\{.*\})$", out, re.M))
    return result, out, [json.loads(failed[host])["msg"] if host in failed else None for host in hosts]


def batches(cases, size=PER_RUN):
    return [cases[i:i + size] for i in range(0, len(cases), size)]


@pytest.mark.parametrize("batch", batches(CASES),
                         ids=[f"{i * PER_RUN:02d}-" + "-".join(c[1] for c in b[:2]) for i, b in enumerate(batches(CASES))])
def test_bad_settings_are_refused_before_any_server_is_touched(run_ansible, tmp_path, batch):
    result, out, messages = refused_each(run_ansible, tmp_path, [bad for bad, _ in batch])
    assert_refused_before_any_server(result, out, "")
    for (bad, named), message in zip(batch, messages):
        assert message is not None and named in message, f"{bad}: no refusal naming {named}: {message}\n{out}"


def test_one_refused_server_stops_the_others_before_any_change(run_ansible, tmp_path):
    # case00 is good, case01 is not: site.yml reports case01's refusal, stops
    # case00 with a message naming case01, and connects to neither.
    result, out, messages = refused_each(run_ansible, tmp_path, [{}, {"uwsgi_processes": -1}], playbook="site.yml")
    assert_refused_before_any_server(result, out, "uwsgi_processes")
    assert "uwsgi_processes" in messages[1], out
    assert "Nothing was changed on any server: the settings of case01 were refused" in messages[0], out


def test_the_cases_are_distinct():
    keys = [json.dumps(bad, sort_keys=True) for bad, _ in CASES]
    assert len(keys) == len(set(keys))
    assert len(CASES) >= 25


def passed_the_checks(result, out, playbook=CHECK):
    """check.yml ends without a failure; site.yml goes on to the unreachable server."""
    if playbook == CHECK:
        return result.returncode == 0 and "failed=0" in out and "UNREACHABLE" not in out
    return result.returncode != 0 and "UNREACHABLE" in out and "failed=0" in out


@pytest.mark.parametrize("playbook", ["site.yml", "deploy.yml"])
def test_site_and_deploy_run_the_check_play_first(playbook):
    plays = yaml.safe_load((ROOT / playbook).read_text())
    inner = yaml.safe_load((ROOT / plays[0]["ansible.builtin.import_playbook"]).read_text())
    assert inner[0]["ansible.builtin.import_playbook"] == "check.yml", inner[0]


def test_good_settings_pass_the_checks(run_ansible):
    # The control case: the tencent settings are accepted, so site.yml goes on
    # to the server, which cannot be reached.
    result, out = run_site(run_ansible, {}, playbook="site.yml")
    assert passed_the_checks(result, out, "site.yml"), out


def test_site_playbook_stops_in_the_check_play(run_ansible):
    result, out = run_site(run_ansible, {"flaskstack_app_base_dir": "/srv/../etc"}, playbook="site.yml")
    assert_refused_before_any_server(result, out, "flaskstack_app_base_dir")


def test_deploy_playbook_checks_first_too(run_ansible):
    result, out = run_site(run_ansible, {"flask_app_wsgi": "app_flask"}, playbook="deploy.yml")
    assert_refused_before_any_server(result, out, "flask_app_wsgi")


def write_inventory(tmp_path, hosts_vars, app, web):
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "group_vars").symlink_to(ROOT / "inventories" / "tencent" / "group_vars")
    unreachable = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh", "ansible_user": "nobody"}
    data = {
        "all": {
            "hosts": {name: dict(unreachable, **hv) for name, hv in hosts_vars.items()},
            "children": {"appservers": {"hosts": {h: None for h in app}}, "webservers": {"hosts": {h: None for h in web}}},
        }
    }
    (inventory / "hosts.yml").write_text(json.dumps(data))
    return str(inventory)


def test_scaled_layout_without_facts_passes_the_checks(run_ansible, tmp_path):
    # Two app servers behind a web server, no private addresses given: the
    # checks run without facts (a stand-in address), the run goes on.
    inventory = write_inventory(tmp_path, {"web": {}, "app1": {}, "app2": {}}, ["app1", "app2"], ["web"])
    result, out = run_site(run_ansible, {}, inventory=inventory)
    assert passed_the_checks(result, out), out


@pytest.mark.parametrize(
    ("hosts_vars", "extra", "named"),
    [
        ({"web": {}, "app1": {}, "app2": {}}, {"flaskstack_rolling_batch": 2}, "flaskstack_rolling_batch"),
        ({"web": {}, "app1": {"flaskstack_private_address": "app1.internal"}, "app2": {}}, {}, "flaskstack_private_address"),
        ({"web": {"flaskstack_cluster": "blue"}, "app1": {}, "app2": {}}, {}, "webservers"),
        ({"web": {}, "app1": {}, "app2": {}}, {"flaskstack_uwsgi_unix_socket": True}, "flaskstack_uwsgi_unix_socket"),
    ],
    ids=["batch-as-large-as-the-app-servers", "private-address-not-an-ip", "cluster-without-web-server", "unix-socket-across-servers"],
)
def test_bad_layout_is_refused_before_any_server_is_touched(run_ansible, tmp_path, hosts_vars, extra, named):
    inventory = write_inventory(tmp_path, hosts_vars, ["app1", "app2"], ["web"])
    result, out = run_site(run_ansible, extra, inventory=inventory)
    assert_refused_before_any_server(result, out, named)


def test_acme_on_two_web_servers_or_another_http_port_is_refused_and_on_one_accepted(run_ansible, tmp_path):
    acme = {"flaskstack_tls": True, "nginx_acme": True, "nginx_acme_email": "ops@example.com",
            "flaskstack_server_name": "chat.example.com www.example.com"}
    two = write_inventory(tmp_path, {"web1": {}, "web2": {}, "app1": {}}, ["app1"], ["web1", "web2"])
    result, out = run_site(run_ansible, acme, inventory=two)
    assert_refused_before_any_server(result, out, "nginx_acme (true) with 2 web servers (web1, web2)")
    result, out = run_site(run_ansible, acme)
    assert passed_the_checks(result, out), out
    # HTTP-01 challenges come to port 80 only.
    result, out = run_site(run_ansible, {**acme, "flaskstack_http_port": 8080})
    assert_refused_before_any_server(result, out, "nginx_acme with nginx_listen_port 8080")


SECRET = "s3cr3t-Vault-Value-4711"


@pytest.mark.parametrize(
    ("secrets", "named"),
    [
        (f"SECRET_KEY={SECRET}", "flask_app_secrets"),
        ([f"SECRET_KEY={SECRET}"], "flask_app_secrets"),
        ({"SECRET_KEY": f"{SECRET}\nsecond line"}, "flask_app_secrets"),
        ({"SECRET KEY": SECRET}, "flask_app_secrets"),
    ],
    ids=["string", "list", "two-lines", "bad-key"],
)
def test_bad_secrets_are_refused_without_showing_them(run_ansible, secrets, named):
    result, out = run_site(run_ansible, {"flask_app_secrets": secrets}, verbose=True)
    assert_refused_before_any_server(result, out, named)
    assert SECRET not in out, out


def test_secrets_are_not_shown_when_another_setting_fails(run_ansible):
    result, out = run_site(run_ansible, {"flask_app_secrets": {"SECRET_KEY": SECRET}, "nginx_upstream_method": "hash"}, verbose=True)
    assert_refused_before_any_server(result, out, "nginx_upstream_hash_key")
    assert SECRET not in out, out


def test_secrets_are_not_shown_when_the_checks_pass(run_ansible):
    result, out = run_site(run_ansible, {"flask_app_secrets": {"SECRET_KEY": SECRET}}, verbose=True)
    assert passed_the_checks(result, out), out
    assert SECRET not in out, out


WORKERS = {"flaskstack_redis": True, "flaskstack_redis_password": "0123456789abcdef0123",
           "uwsgi_background_workers": [{"name": "rq", "command": ["flask", "--app", "app_flask", "worker"], "instances": 2}],
           "uwsgi_scheduled_jobs": [{"name": "beat", "command": ["flask", "--app", "app_flask", "heartbeat"], "schedule": "hourly"}]}


def test_workers_jobs_and_redis_are_accepted_and_hostile_ones_refused(run_ansible, tmp_path):
    result, out = run_site(run_ansible, WORKERS)
    assert passed_the_checks(result, out), out
    hostile = {**WORKERS,
               "uwsgi_background_workers": [{"name": "rq", "command": ["rq", "worker", "--url", "$REDIS_URL; reboot"]},
                                            {"name": "rq", "command": "celery -A app worker", "instances": 0}],
               "uwsgi_scheduled_jobs": [{"name": "beat", "command": ["flask", "heartbeat"], "schedule": "daily; rm -rf /"}]}
    result, out = run_site(run_ansible, hostile)
    assert_refused_before_any_server(result, out, "uwsgi_background_workers[0]")
    for said in ("'$REDIS_URL; reboot'", "uwsgi_background_workers[1]", "command: a list, the program first", "instances: 1 to 64",
                 "uwsgi_scheduled_jobs[0]", "schedule: a systemd calendar event", "uwsgi_background_workers: each name once"):
        assert said in " ".join(out.split()), (said, out)
    # Redis needs its password, and one app server.
    result, out = run_site(run_ansible, {**WORKERS, "flaskstack_redis_password": ""})
    assert_refused_before_any_server(result, out, "flaskstack_redis_password: empty (set it in the vault)")
    # With several app servers, Redis runs on the first one (multinode converges that).
    two = write_inventory(tmp_path, {"web1": {}, "app1": {}, "app2": {}}, ["app1", "app2"], ["web1"])
    result, out = run_site(run_ansible, WORKERS, inventory=two)
    assert passed_the_checks(result, out), out
