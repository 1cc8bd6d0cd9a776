"""The whole stack, converged with inventories/tencent's settings, checked for real."""

import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest
from flaskstack_testlib import instance_name, journal, published_port, request, sudo, wait_for
from loadclient import LoadClient

APP = "chatbot"
UNIT = f"uwsgi-{APP}"
MODEL = Path(__file__).resolve().parents[3] / "examples" / "models" / "chatbot-model.json"
LIMIT = 75 * 1024 * 1024  # client_max_body_size 75M
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


@pytest.fixture()
def port(host):
    return published_port(instance_name(host))


def test_services_are_active_and_enabled(host):
    units = ["nginx", UNIT]
    out = host.run(f"systemctl is-active {' '.join(units)}; systemctl is-enabled {' '.join(units)}").stdout.split()
    states = dict(zip(units, zip(out[: len(units)], out[len(units) :])))
    for unit in units:
        assert states.get(unit) == ("active", "enabled"), f"{unit}: {states.get(unit)}{journal(host, unit)}"


def test_uwsgi_listens_on_loopback_8000_only(host):
    # The listening socket is systemd's (test_systemd_holds_uwsgis_socket);
    # the app's user binds none of its own, and 8000 is on loopback only.
    assert sudo(host, f"systemctl show -P Listen {UNIT}.socket").stdout.split() == ["127.0.0.1:8000", "(Stream)"]
    uid = host.run(f"id -u {APP}").stdout.strip()
    out = sudo(host, "ss -Hltne").stdout
    of_app_user = [line for line in out.splitlines() if f" uid:{uid} " in f" {line} "]
    assert of_app_user == [], f"sockets bound by {APP} (uid {uid}): {of_app_user}"
    on_8000 = sorted(line.split()[3] for line in out.splitlines() if line.split()[3].endswith(":8000"))
    assert on_8000 == ["127.0.0.1:8000"], out


def test_uwsgi_master_and_workers_run_as_the_app_user(host):
    out = host.run("ps -o user=,args= -C uwsgi").stdout.splitlines()
    users = {line.split()[0] for line in out}
    # Default processes: one per CPU, at least 2; plus the master.
    cpus = int(host.run("nproc").stdout)
    assert len(out) == 1 + max(cpus, 2), f"expected a master and {max(cpus, 2)} workers on {cpus} CPUs, saw:\n{out}"
    assert users == {APP}, f"uWSGI processes run as {users}"


def test_uwsgi_is_built_with_pcre(host):
    log = journal(host, UNIT, lines=2000)
    assert "uWSGI" in log and "spawned uWSGI worker" in log, f"no uWSGI start-up in the journal:{log}"
    assert "no internal routing support" not in log, log
    linked = host.run(f"ldd /srv/{APP}/uwsgi/bin/uwsgi").stdout
    assert "libpcre" in linked, linked


def test_home_page_through_nginx(port):
    resp = request(port, "GET", "/")
    assert resp.status == 200, resp
    assert json.loads(resp.body)["app"] == "chatbot", resp
    assert resp.headers.get("Server") == "nginx", resp.headers
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, f"{name}: {resp.headers}"


def test_chat_reply_comes_from_the_deployed_model(port):
    body = json.dumps({"message": "hello there"}).encode()
    resp = request(port, "POST", "/api/chat", body=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200, resp
    model = json.loads(MODEL.read_text())
    answer = json.loads(resp.body)
    assert answer["model"] == model["name"], answer
    assert answer["reply"] == model["intents"][0]["reply"], answer


def test_model_artifact_matches_the_local_file(host):
    path = f"/srv/{APP}/shared/artifacts/chatbot-model.json"
    out = sudo(host, f"sha256sum {path} && stat -L -c '%U %G %a' {path}").stdout.split()
    assert out[0] == hashlib.sha256(MODEL.read_bytes()).hexdigest(), out
    assert out[2:] == ["root", APP, "640"], f"owner, group, mode: {out[2:]}"


def test_environment_file_is_private_to_the_app_and_links_to_the_live_release(host):
    path = f"/etc/flaskstack/{APP}.env"
    assert sudo(host, f"readlink {path}").stdout.strip() == f"/srv/{APP}/current/.flaskstack-env"
    out = sudo(host, f"stat -L -c '%U %G %a' {path} && grep -c '^CHATBOT_MODEL_PATH=' {path}").stdout.split()
    assert out == ["root", APP, "640", "1"], f"owner, group, mode, CHATBOT_MODEL_PATH lines: {out}"


def test_a_security_header_the_app_sets_is_sent_once_with_the_apps_value(port):
    resp = request(port, "POST", "/api/chat", body=b'{"message": "hello"}', headers={"Content-Type": "application/json"})
    assert resp.status == 200, resp
    lines = [(name.lower(), value) for name, value in resp.header_lines]
    assert [value for name, value in lines if name == "x-frame-options"] == ["DENY"], resp.header_lines
    # The headers the app did not set come from nginx, once each.
    for name, value in SECURITY_HEADERS.items():
        if name != "X-Frame-Options":
            assert [v for n, v in lines if n == name.lower()] == [value], resp.header_lines


def test_body_just_under_the_limit_reaches_the_app(port):
    size = LIMIT - 64 * 1024
    resp = request(port, "POST", "/api/upload", body_size=size, timeout=120)
    assert resp.status == 200, resp
    assert json.loads(resp.body)["received"] == size


def test_body_over_the_limit_gets_413_from_nginx(port):
    resp = request(port, "POST", "/api/upload", body_size=LIMIT + 1, send_body=False)
    assert resp.status == 413, resp
    assert "Request Entity Too Large" in resp.text(), resp
    # nginx's own error page carries the security headers too ("always").
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, f"{name}: {resp.headers}"


def test_nginx_config_passes_nginx_t(host):
    result = sudo(host, "nginx -t")
    assert result.rc == 0, result.stderr


def test_a_bad_candidate_config_is_refused_and_the_site_keeps_serving(host, port):
    live = f"/etc/nginx/sites-available/{APP}.conf"
    enabled = f"/etc/nginx/sites-enabled/{APP}.conf"
    before = sudo(host, f"sha256sum {live}").stdout
    bad = "server {\\n    listen 80;\\n    no_such_directive on;\\n}\\n"
    result = sudo(host, f"printf '{bad}' > /tmp/bad.conf && flaskstack-nginx-check /tmp/bad.conf sites-available/{APP}.conf")
    assert result.rc != 0, "the checker accepted a config with an unknown directive"
    assert 'unknown directive "no_such_directive"' in result.stderr, result.stderr
    assert f"{enabled}:3" in result.stderr, f"the message should name the live path: {result.stderr}"
    assert sudo(host, f"sha256sum {live}").stdout == before
    assert request(port, "GET", "/health").status == 200


def test_systemd_holds_uwsgis_socket(host):
    # The socket unit listens (enabled at boot); uWSGI was handed the socket and bound none of its own.
    assert sudo(host, f"systemctl is-active {UNIT}.socket; systemctl is-enabled {UNIT}.socket").stdout.split() == ["active", "enabled"]
    # One listening socket on 8000, systemd's (pid 1; root in a container may
    # not read the sandboxed uWSGI's file descriptors, so ss shows only that one).
    listeners = sudo(host, "ss -Hltnp 'sport = :8000'").stdout.splitlines()
    assert len(listeners) == 1 and '"systemd",pid=1,' in listeners[0], listeners
    # uWSGI took it over at each start and never bound one of its own.
    log = sudo(host, f"journalctl -u {UNIT} --no-pager -o cat").stdout
    assert "SystemD socket activation detected" in log and "attached to INET address 127.0.0.1:8000" in log, log[-2000:]
    assert "bound to TCP address" not in log, log[-2000:]


def main_pid(host):
    return sudo(host, f"systemctl show -p MainPID --value {UNIT}").stdout.strip()


@pytest.mark.parametrize("how", ["systemctl restart", "kill -9 of the master"])
def test_uwsgi_restarts_refuse_no_request(host, port, how):
    # systemd holds the listening socket: while uWSGI restarts (or comes back
    # after a crash) connections wait in its backlog; nginx only sees a slower answer.
    old_pid = main_pid(host)
    assert old_pid not in ("", "0"), f"{UNIT} has no main process{journal(host, UNIT)}"
    with LoadClient([("127.0.0.1", port)], path="/health", concurrency=4, max_seconds=30) as load:
        time.sleep(1)
        start = time.monotonic()
        command = f"systemctl restart {UNIT}" if how == "systemctl restart" else f"kill -9 {old_pid}"
        assert sudo(host, command).rc == 0
        while time.monotonic() - start < 20 and main_pid(host) in ("", "0", old_pid):
            time.sleep(0.2)
        resp, answered = wait_for(port, "/health", seconds=20 - (time.monotonic() - start))
        elapsed = time.monotonic() - start
        time.sleep(1)
    report = load.report()
    assert main_pid(host) not in ("", "0", old_pid), f"not restarted within 20 s{journal(host, UNIT)}"
    assert answered is not None, f"no 200 within 20 s, last: {resp}{journal(host, UNIT)}"
    print(f"{how}: answering again after {elapsed:.1f} s; load: {report['ok']} ok, {report['failed']} failed, "
          f"longest answer {report['longest']} s")
    assert report["failed"] == 0 and report["ok"] > 20, report


def test_https_beside_plain_http_where_the_inventory_turns_it_on(host):
    # TLS on, no redirect: both ports serve the app.
    name = instance_name(host)
    port = published_port(name, 443)
    assert request(port, "GET", "/health", tls=True).status == 200
    assert request(published_port(name), "GET", "/health").status == 200
    site = sudo(host, f"cat /etc/nginx/sites-available/{APP}.conf").stdout
    assert "listen 443 ssl http2 default_server reuseport;" in site and "http2 on;" not in site, "nginx 1.22 has no http2 directive"
    out = subprocess.run(
        ["curl", "-sk", "--http2", "-o", "/dev/null", "-w", "%{http_version}", f"https://127.0.0.1:{port}/health"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert out.stdout == "2", out


def test_only_nginx_listens_beyond_loopback(host):
    # A single server: uWSGI and anything else internal stay on loopback; only
    # nginx (80, and 443 with TLS) and sshd (22, none in these containers) face the network.
    out = sudo(host, "ss -Hltnu").stdout
    exposed = set()
    for line in out.splitlines():
        address, port = line.split()[4].rsplit(":", 1)
        if address.startswith("127.") or address == "[::1]":
            continue
        exposed.add(port)
    expected = {"80", "443"}
    assert expected <= exposed <= {"22", "80", "443"}, f"listening beyond loopback: {sorted(exposed)}\n{out}"
