"""Background workers and scheduled jobs on the converged single server.

The inventory (host_vars) runs Redis, two RQ workers of the example app
(chatbot-worker-rq@1 and @2) and a heartbeat job every 10 seconds. How the
workers follow a deploy and a rollback is checked in
test_upgrade_and_rollback.py, with the releases.
"""

import json
import time

import pytest
from flaskstack_testlib import enqueue_job, instance_name, job_state, journal, published_port, run_playbook, sudo

SERVER = "flaskstack-deb12"
testinfra_hosts = [f"ansible://{SERVER}"]
APP = "chatbot"
WORKERS = [f"{APP}-worker-rq@1.service", f"{APP}-worker-rq@2.service"]
HEARTBEAT = f"/srv/{APP}/shared/instance/heartbeat.json"


@pytest.fixture(scope="module")
def port(host):
    return published_port(instance_name(host))


def unit(host, name, *props):
    """The values of systemd properties of the unit NAME, in the order asked."""
    return [sudo(host, f"systemctl show -P {prop} {name}").stdout.strip() for prop in props]


def test_a_queued_job_is_run_by_a_worker_of_the_live_release(host, port):
    state = job_state(port, enqueue_job(port))
    assert state["status"] == "finished", f"{state}{journal(host, WORKERS[0])}"
    assert state["result"]["version"] == "1"
    pids = {unit(host, name, "MainPID")[0] for name in WORKERS}
    assert str(state["result"]["pid"]) not in pids, "the job runs in a child (RQ's work horse), not the worker itself"
    # As the app: its user, its sandbox, its environment file.
    for name in WORKERS:
        user, active, env = unit(host, name, "User", "ActiveState", "EnvironmentFiles")
        assert (user, active) == (APP, "active") and f"/etc/flaskstack/{APP}.env" in env, (name, user, active, env)
    redis = sudo(host, "ss -Htln 'sport = :6379'").stdout
    assert [line.split()[3] for line in redis.splitlines()] == ["127.0.0.1:6379"], redis
    refused = sudo(host, "redis-cli -h 127.0.0.1 ping")
    assert "NOAUTH" in refused.stdout + refused.stderr, "Redis answers without the password"


def test_a_worker_killed_with_sigkill_comes_back_and_works(host, port):
    pid, restarts = unit(host, WORKERS[0], "MainPID", "NRestarts")
    assert sudo(host, f"kill -9 {pid}").rc == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new_pid, new_restarts, active = unit(host, WORKERS[0], "MainPID", "NRestarts", "ActiveState")
        if active == "active" and new_pid not in ("0", pid):
            break
        time.sleep(0.5)
    assert active == "active" and new_pid != pid and int(new_restarts) == int(restarts) + 1, (
        f"{pid} -> {new_pid} {active} {restarts} -> {new_restarts}{journal(host, WORKERS[0])}"
    )
    states = [job_state(port, job) for job in [enqueue_job(port) for _ in range(4)]]
    assert [s["status"] for s in states] == ["finished"] * 4, states


def test_the_scheduled_job_runs_with_the_live_release_on_its_schedule(host):
    timer = f"{APP}-job-heartbeat.timer"
    assert unit(host, timer, "ActiveState", "UnitFileState") == ["active", "enabled"]
    before = sudo(host, f"stat -c %Y {HEARTBEAT}").stdout.strip()
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        now = sudo(host, f"stat -c %Y {HEARTBEAT}").stdout.strip()
        if now and now != before:
            break
        time.sleep(1)
    assert now and now != before, f"the heartbeat did not run within 25 s{journal(host, f'{APP}-job-heartbeat')}"
    beat = json.loads(sudo(host, f"cat {HEARTBEAT}").stdout)
    assert beat["version"] == "1" and abs(beat["time"] - time.time()) < 60, beat
    assert "heartbeat: version 1" in journal(host, f"{APP}-job-heartbeat")


def test_workers_and_jobs_no_longer_listed_are_removed(host, port):
    # One instance instead of two, no scheduled job; then the inventory's again.
    fewer = {"uwsgi_background_workers": [{"name": "rq", "command": ["flask", "--app", "app_flask", "worker"]}],
             "uwsgi_scheduled_jobs": []}
    try:
        result = run_playbook("site.yml", fewer, tags="uwsgi_background")
        assert result.returncode == 0, result.output[-3000:]
        units = sudo(host, f"ls /etc/systemd/system /etc/systemd/system/{APP}-workers.target.wants").stdout
        assert f"{APP}-worker-rq@2.service" not in units and f"{APP}-job-heartbeat" not in units, units
        assert unit(host, WORKERS[1], "ActiveState")[0] == "inactive"
        assert sudo(host, f"systemctl is-active {APP}-job-heartbeat.timer").stdout.strip() != "active"
        assert job_state(port, enqueue_job(port))["status"] == "finished"
    finally:
        restored = run_playbook("site.yml", tags="uwsgi_background")
        assert restored.returncode == 0, restored.output[-3000:]
    assert [unit(host, name, "ActiveState")[0] for name in WORKERS] == ["active", "active"]
    assert unit(host, f"{APP}-job-heartbeat.timer", "ActiveState")[0] == "active"
