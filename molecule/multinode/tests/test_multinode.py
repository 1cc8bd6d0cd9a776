"""One web server in front of two app servers, checked with real traffic.

Requests go to the web node's published port; the example app says which app
server answered (its "host" field).
"""

import collections
import json
import re
import shlex
import socket
import time

import pytest
from flaskstack_testlib import enqueue_job, job_state, journal, make_version, node, request, run_playbook, sudo
from loadclient import LoadClient

testinfra_hosts = ["ansible://flaskstack-web"]

WEB_PORT = 18110
APPS = ["flaskstack-app1", "flaskstack-app2"]
UNIT = "uwsgi-chatbot"
CONNECT = """
import socket, sys
s = socket.socket()
s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("connected")
except ConnectionRefusedError:
    print("refused")
except OSError as exc:
    print("failed", exc)
"""


def address(name):
    out = node(name).run("ip -4 -o addr show scope global").stdout
    return out.split()[3].split("/")[0]


def connect_from(name, ip, port):
    return node(name).run(f"python3 -c {shlex.quote(CONNECT)} {ip} {port}").stdout.strip()


def answers(count=40):
    """Which app server answered COUNT requests through the web node, and with which version."""
    seen = collections.Counter()
    for _ in range(count):
        resp = request(WEB_PORT, "GET", "/health")
        assert resp.status == 200, resp
        body = json.loads(resp.body)
        seen[(body["host"], body["version"])] += 1
    return seen


def served_by(seen):
    return {host for host, _ in seen}


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    root = tmp_path_factory.mktemp("apps")
    return {"v2": make_version(root, 2), "v3": make_version(root, 3, "health on flaskstack-app2")}


def test_requests_through_the_web_node_reach_both_app_nodes(host):
    seen = answers()
    assert served_by(seen) == set(APPS), seen
    assert min(collections.Counter(h for h, _ in seen.elements()).values()) >= 10, seen
    site = sudo(host, "cat /etc/nginx/sites-available/chatbot.conf").stdout
    for name in APPS:
        assert f"server {address(name)}:8000;" in site, site


def test_uwsgi_listens_on_the_private_address_only(host):
    for name in APPS:
        out = sudo(node(name), "runuser -u chatbot -- ss -Hltnp").stdout
        sockets = sorted(line.split()[3] for line in out.splitlines() if '"uwsgi"' in line)
        assert sockets == [f"{address(name)}:8000"], f"{name}: {sockets}"


def test_uwsgi_port_is_open_to_the_web_node_only(host):
    app1 = address("flaskstack-app1")
    assert connect_from("flaskstack-web", app1, 8000) == "connected"
    assert connect_from("flaskstack-app2", app1, 8000) == "refused", "an app server is not a web server"
    with socket.socket() as probe:  # from the machine running the containers
        probe.settimeout(3)
        with pytest.raises(ConnectionRefusedError):
            probe.connect((app1, 8000))
    # The web node opens HTTP to everyone; app nodes run no nginx.
    assert connect_from("flaskstack-app1", address("flaskstack-web"), 80) == "connected"
    # SSH stays open everywhere; HTTP is opened on the web server only.
    web_rules = sudo(host, "nft list table inet flaskstack").stdout
    app_rules = sudo(node("flaskstack-app1"), "nft list table inet flaskstack").stdout
    assert "tcp dport 22 accept" in web_rules and "tcp dport 22 accept" in app_rules, app_rules
    assert "tcp dport 80 accept" in web_rules and not re.search(r"dport 80\b", app_rules), (web_rules, app_rules)
    assert "policy drop;" in app_rules


def test_jobs_from_the_web_are_run_by_the_workers_of_both_app_servers(host):
    # One Redis (on app1), one queue: jobs queued through either app server
    # are taken by whichever worker is free.
    jobs = [enqueue_job(WEB_PORT, seconds=1) for _ in range(8)]
    states = [job_state(WEB_PORT, job) for job in jobs]
    assert [s["status"] for s in states] == ["finished"] * 8, states
    assert {s["result"]["host"] for s in states} == set(APPS), states
    app1 = address("flaskstack-app1")
    # Redis's port: open to the other app server only; REDIS_URL there names app1.
    assert connect_from("flaskstack-app2", app1, 6379) == "connected"
    assert connect_from("flaskstack-web", app1, 6379) != "connected", "the web server reaches Redis"
    env = sudo(node("flaskstack-app2"), "cat /etc/flaskstack/chatbot.env").stdout
    assert f'@{app1}:6379/0"' in env, "app2's REDIS_URL does not name app1's private address"
    listening = sudo(node("flaskstack-app1"), "ss -Htln 'sport = :6379'").stdout
    assert sorted(line.split()[3] for line in listening.splitlines()) == sorted(["127.0.0.1:6379", f"{app1}:6379"]), listening


def test_a_stopped_app_node_is_skipped(host):
    app1 = node("flaskstack-app1")
    try:
        with LoadClient([("127.0.0.1", WEB_PORT)], path="/health", concurrency=4, max_seconds=30) as switch_over:
            time.sleep(2)
            # Both units: while its socket listens, a connection starts uWSGI again.
            assert sudo(app1, f"systemctl stop {UNIT}.socket {UNIT}").rc == 0
            time.sleep(3)
        with LoadClient([("127.0.0.1", WEB_PORT)], path="/health", concurrency=4, max_seconds=8) as after:
            time.sleep(8)
        during, marked = switch_over.report(), after.report()
        print(f"uWSGI stopped on app1: during the switch-over {during}; after {marked}")
        # nginx retries a refused connection on the other backend, so even the
        # switch-over should cost nothing; at most the requests in flight.
        assert during["failed"] <= 4, during
        assert marked["failed"] == 0 and marked["ok"] > 50, marked
        assert set(marked["hosts"]) == {"flaskstack-app2"}, marked
    finally:
        sudo(app1, f"systemctl start {UNIT}.socket {UNIT}")
    deadline = time.monotonic() + 30
    while served_by(answers(10)) != set(APPS):
        assert time.monotonic() < deadline, f"app1 did not come back{journal(app1, UNIT)}"


def deploy_under_load(extra_vars):
    target = [("127.0.0.1", WEB_PORT)]
    with LoadClient(target, path="/", concurrency=4, max_seconds=400) as fast:
        with LoadClient(target, path="/api/slow?ms=1500", concurrency=2, max_seconds=400, pause=0) as slow:
            result = run_playbook("deploy.yml", extra_vars, timeout=600)
    report, slow_report = fast.report(), slow.report()
    print(f"load during deploy.yml {extra_vars}: fast {fast.summary()}; slow {slow.summary()}")
    return result, report, slow_report


def test_rolling_deploy_under_load_drops_no_request(host, apps):
    result, fast, slow = deploy_under_load({"flask_app_src": apps["v2"]})
    assert result.returncode == 0, result.output[-4000:]
    assert fast["failed"] == 0 and slow["failed"] == 0, (fast, slow)
    assert slow["ok"] >= 10, slow
    # One server at a time: each was drained, then put back.
    for name in APPS:
        ip = address(name)
        assert f"Write the site, drained backends {ip}:8000" in result.output, result.output[-4000:]
    assert set(answers()) == {(name, "2") for name in APPS}
    # Both versions answered at some point: app1 was on v2 while app2 still served v1.
    assert [version for _, version in fast["timeline"]][:2] == ["1", "2"], fast["timeline"]


def test_rolling_deploy_stops_where_a_node_fails_its_health_check(host, apps):
    result, fast, slow = deploy_under_load({"flask_app_src": apps["v3"]})
    assert result.returncode != 0
    assert "Deploy stopped at flaskstack-app2" in result.output, result.output[-4000:]
    assert "failed its health check" in result.output
    # app1 got v3, app2 went back to v2; nothing failed for the clients.
    assert fast["failed"] == 0 and slow["failed"] == 0, (fast, slow)
    assert set(answers()) == {("flaskstack-app1", "3"), ("flaskstack-app2", "2")}
    site = sudo(host, "cat /etc/nginx/sites-available/chatbot.conf").stdout
    assert " down;" not in site, "the failed server was left drained"
