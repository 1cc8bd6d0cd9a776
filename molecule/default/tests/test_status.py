"""playbooks/status.yml: what a server runs, read only, from the server itself."""

import json
import re

from flaskstack_testlib import instance_name, journal, published_port, request, requests_served, run_playbook, sudo, wait_for

APP = "chatbot"
UNIT = f"uwsgi-{APP}"


def status(host):
    """Run status.yml on HOST; returns (result, the lines it printed as one text, requests counted, changes made).

    The JSON callback gives the printed lines exactly, whatever their length.
    Molecule's config turns on the timer and profile_tasks callbacks, which
    print their summaries after the JSON document: only the document is read."""
    name = instance_name(host)
    result = run_playbook("status.yml", args=["--limit", name], more_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    report, _ = json.JSONDecoder().raw_decode(result.stdout, result.stdout.index("{"))
    shown = [task["hosts"][name] for play in report["plays"] for task in play["tasks"] if task["task"]["name"].startswith("Show the state of")]
    assert shown, result.output[-3000:]
    text = "\n".join(shown[0]["msg"])
    failed = [task["hosts"][name].get("msg", "") for play in report["plays"] for task in play["tasks"] if task["hosts"].get(name, {}).get("failed")]
    text += "\n" + "\n".join(str(msg) for msg in failed)
    requests = re.search(r"uwsgi: \S+ \S+, socket \S+, pid \d+, \d+ restarts, \d+ workers, (\d+) requests", text)
    return result, text, int(requests.group(1)) if requests else None, report["stats"][name]["changed"]


def test_status_reports_release_workers_health_and_nginx(host):
    port = published_port(instance_name(host))
    live = sudo(host, f"readlink /srv/{APP}/current").stdout.strip().rsplit("/", 1)[-1]
    cpus = int(host.run("nproc").stdout)
    pid = sudo(host, f"systemctl show -P MainPID {UNIT}").stdout.strip()

    first, shown, before, changed = status(host)
    assert first.returncode == 0, first.output[-4000:]
    assert changed == 0, "status.yml changed something"
    assert f"release: {live} (previous: " in shown or f"release: {live}," in shown, shown
    assert f"uwsgi: {UNIT} active, socket active, pid {pid}," in shown, shown
    assert f", {max(cpus, 2)} workers," in shown, shown
    assert re.search(r"workers: #1 pid \d+ (idle|busy) \d+ requests", shown), shown
    # Through this server's nginx (over HTTPS on the Debian 12 server, which has TLS on).
    assert re.search(r"health: https?://127\.0\.0\.1:(80|443)/health -> 200 ok", shown), shown
    assert "nginx: active, config ok" in shown, shown
    # The background workers and the scheduled job (every 10 s) of the inventory.
    assert re.search(r"background: rq 2/2 active, \d+ restarts", shown), shown
    assert re.search(r"jobs: heartbeat last run \w{3} \d{4}-\d\d-\d\d [\d:]+ \w+ \((success|running)\), next \w{3} \d{4}-", shown), shown
    assert before == requests_served(host, APP)

    # Its request counts are uWSGI's: five requests through nginx, plus the
    # status run's own health check, make six.
    for _ in range(5):
        assert request(port, "GET", "/health").status == 200
    second, shown, after, _ = status(host)
    assert second.returncode == 0, second.output[-4000:]
    assert after - before == 6, shown


def test_status_fails_and_says_why_when_uwsgi_is_down(host):
    port = published_port(instance_name(host))
    # Out means both: with its socket listening, a stopped uWSGI is started by the next connection.
    assert sudo(host, f"systemctl stop {UNIT}.socket {UNIT}").rc == 0
    try:
        result, shown, _, changed = status(host)
        assert result.returncode != 0, shown
        assert f"uwsgi: {UNIT} inactive, socket inactive" in shown, shown
        assert re.search(r"health: https?://127\.0\.0\.1:(80|443)/health -> 502 FAILED", shown), shown
        assert "is not healthy" in shown, shown
        assert changed == 0
    finally:
        assert sudo(host, f"systemctl start {UNIT}.socket {UNIT}").rc == 0
    _, took = wait_for(port, "/health")
    assert took is not None, f"not answering after the restart{journal(host, UNIT)}"


def test_a_failed_job_run_shows_and_fails_status(host):
    job = f"{APP}-job-heartbeat"
    beat = f"/srv/{APP}/shared/instance/heartbeat.json"
    # The heartbeat cannot write its file where a directory stands.
    assert sudo(host, f"rm -f {beat} && mkdir {beat} && ! systemctl start {job}").rc == 0
    try:
        result, shown, _, _ = status(host)
        assert result.returncode != 0, shown
        assert re.search(r"jobs: heartbeat last run .+ \(FAILED: exit-code\)", shown), shown
        assert "is not healthy" in shown, shown
    finally:
        fixed = sudo(host, f"rmdir {beat} && systemctl start {job}")
        assert fixed.rc == 0, fixed.stderr + journal(host, job)
    result, shown, _, _ = status(host)
    assert result.returncode == 0 and re.search(r"jobs: heartbeat last run .+ \((success|running)\)", shown), shown
