"""Releases under load: switch, refuse, roll back, other sources, pruning.

On the scenario's server, after the other test files (pytest runs files in
name order, and this sequence leaves another app live there). The tests run
in file order and build on each other, like a real sequence of deploys: v1
with the inventory's settings (the converge's release, put back after the
drills); then v2, a v3 stopped by its pre-switch command, an unhealthy v4, a
rollback, releases with their own environment (one the broken v3, whose
import fails), other sources and a packaged app from PyPI. A deploy.yml
re-run with nothing new is checked after the git source and the packaged app
(and Molecule's idempotence step re-runs the converge).
"""

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from flaskstack_testlib import (
    enqueue_job,
    instance_name,
    job_state,
    journal,
    live_files,
    make_version,
    project_dir,
    published_port,
    recap_changed,
    request,
    run_playbook,
    sudo,
    wait_for,
)
from loadclient import LoadClient

SERVER = "flaskstack-deb12"
testinfra_hosts = [f"ansible://{SERVER}"]
APP = "chatbot"
BASE = f"/srv/{APP}"


def play(playbook, extra_vars=None):
    """run_playbook on this file's server only."""
    return run_playbook(playbook, extra_vars, args=["--limit", SERVER])


def version_of(port):
    resp = request(port, "GET", "/")
    assert resp.status == 200, resp
    return json.loads(resp.body)["version"]


def current_release(host):
    return sudo(host, f"readlink {BASE}/current").stdout.strip().rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
def port(host):
    return published_port(instance_name(host))


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    root = tmp_path_factory.mktemp("apps")
    return {
        "v2": make_version(root, 2),
        "v3": make_version(root, 3, "import"),
        "v4": make_version(root, 4, "health"),
        "v5": make_version(root, 5),
        "v6": make_version(root, 6),
        "v7": make_version(root, 7),
    }


@pytest.fixture(scope="module")
def releases():
    """Release ids seen so far, by app version."""
    return {}


def deploy_under_load(port, playbook, extra_vars=None, slow_path="/api/slow?ms=1500"):
    """Deploy while fast requests and slow ones (the chatbot's take 1.5 s
    each, so some are in flight when uWSGI reloads; another app's page for
    another app) go through nginx; return the merged counts."""
    target = [("127.0.0.1", port)]
    with LoadClient(target, path="/", concurrency=4, max_seconds=240) as fast:
        with LoadClient(target, path=slow_path, concurrency=2, max_seconds=240, pause=0) as slow:
            result = play(playbook, extra_vars)
    report, slow_report = fast.report(), slow.report()
    print(f"load during {playbook} {extra_vars or ''}: fast {report}; slow {slow_report}")
    assert slow_report["ok"] >= 10, f"too few slow requests to cover the switch: {slow_report}"
    report["failed"] += slow_report["failed"]
    report["slow"] = slow_report
    return result, report


def test_converge_put_v1_live(host, port, releases):
    # The drills left another release live (theirs has secrets): the
    # inventory's settings give the converge's release back, already built.
    result = play("deploy.yml")
    assert result.returncode == 0, result.output[-3000:]
    assert version_of(port) == "1"
    releases["1"] = current_release(host)
    listing = sudo(host, f"ls -A {BASE}/releases/{releases['1']}").stdout.split()
    for name in ("app_flask.py", "flaskstack_wsgi.py", "flaskstack_env.py", ".flaskstack-env", "venv", "instance"):
        assert name in listing, listing
    # The drift drill made this release's environment file world-readable
    # (0644) while it was live; deploying the release again wrote it back.
    env = host.file(f"{BASE}/releases/{releases['1']}/.flaskstack-env")
    assert (env.user, env.group, env.mode) == ("root", APP, 0o640)


def test_deploy_v2_under_load_drops_no_request(host, port, apps, releases):
    result, report = deploy_under_load(port, "deploy.yml", {"flask_app_src": apps["v2"]})
    assert result.returncode == 0, result.output
    assert report["failed"] == 0, report
    assert report["ok"] > 50, f"too little load to prove anything: {report}"
    assert version_of(port) == "2"
    assert report["timeline"][-1][1] == "2", report["timeline"]
    releases["2"] = current_release(host)
    assert releases["2"] != releases["1"]
    # The background workers were restarted onto v2; the scheduled job runs v2 at its next run.
    assert job_state(port, enqueue_job(port))["result"]["version"] == "2"
    assert wait_heartbeat(host, "2"), f"the heartbeat still runs v1{journal(host, f'{APP}-job-heartbeat')}"


def wait_heartbeat(host, version, seconds=25):
    """Whether the scheduled heartbeat job writes VERSION within SECONDS."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if f'"version": "{version}"' in sudo(host, f"cat {BASE}/shared/instance/heartbeat.json").stdout:
            return True
        time.sleep(1)
    return False


def test_code_only_release_reuses_the_virtualenv(host, releases):
    links = sudo(host, f"readlink {BASE}/releases/{releases['1']}/venv {BASE}/releases/{releases['2']}/venv").stdout.split()
    assert len(links) == 2 and links[0] == links[1], links


def test_a_failing_pre_switch_command_stops_the_release_when_it_replaces_the_import_check(host, port, apps, releases):
    # For an app whose import has side effects: no import check, a command instead.
    before = live_files(host, APP)
    command = "python -c 'import app_flask'"
    result = play("deploy.yml", {"flask_app_src": apps["v3"], "flask_app_import_check": False, "flask_app_pre_switch_commands": [command]})
    out = " ".join(result.output.split())
    assert result.returncode != 0, result.output
    assert f'was not put live: "{command}" exited with 1' in out, result.output
    assert "importing app_flask:app failed" not in out, "the import check ran although flask_app_import_check is false"
    assert current_release(host) == releases["2"]
    assert live_files(host, APP) == before


def test_failed_health_check_rolls_back(host, port, apps, releases):
    before = live_files(host, APP)
    result, report = deploy_under_load(port, "deploy.yml", {"flask_app_src": apps["v4"]})
    assert result.returncode != 0, result.output
    out = " ".join(result.output.split())
    assert "failed its health check" in out, result.output
    assert "https://127.0.0.1:443/health" in out, result.output
    assert "got 503" in out, result.output
    assert f"Rolled back to release {releases['2']}" in out, result.output
    assert version_of(port) == "2"
    assert current_release(host) == releases["2"]
    # v4 answered 503 on /health only; / kept answering during its short life.
    assert report["failed"] == 0, report
    assert live_files(host, APP) == before


def test_rollback_playbook_brings_v1_back(host, port, releases):
    # A job in progress (30 s) when the rollback restarts the workers: the v2 worker
    # running it finishes it (SIGTERM is a warm shutdown) before it stops.
    job = enqueue_job(port, seconds=30)
    assert job_state(port, job, until=("started",), seconds=30)["status"] == "started"
    result = play("rollback.yml")
    assert result.returncode == 0, result.output
    assert version_of(port) == "1"
    assert current_release(host) == releases["1"]
    state = job_state(port, job)
    assert state["status"] == "finished" and state["result"]["version"] == "2", state
    stops = sudo(host, f"journalctl -o short-unix -u '{APP}-worker-rq@*' --since '-3min' | grep 'Stopping '").stdout.split()
    stopped = [float(word) for word in stops if re.fullmatch(r"\d+\.\d+", word)]
    assert any(state["result"]["started"] < at < state["result"]["ended"] for at in stopped), (stopped, state)
    assert job_state(port, enqueue_job(port))["result"]["version"] == "1"


def probe(port):
    """FLASKSTACK_PROBE as the app sees it; the config file's line and the
    model's name (the artifact) must say the same."""
    resp = request(port, "GET", "/api/env-probe")
    assert resp.status == 200, resp
    seen = json.loads(resp.body)
    assert seen["config"] == f"probe = {seen['value']}" and seen["model"] == f"model-{seen['value']}", seen
    return seen["value"]


@pytest.fixture(scope="module")
def probe_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "probe.cfg.j2"
    path.write_text("probe = {{ probe_value }}\n")
    return str(path)


def with_probe(app, value, template, **more):
    """deploy.yml's extra vars: APP's code, the inventory's environment plus
    FLASKSTACK_PROBE, a config file of the release and a model (artifact)
    saying the same."""
    group_vars = yaml.safe_load((project_dir() / "inventories" / "tencent" / "group_vars" / "all" / "main.yml").read_text())
    model = json.loads((project_dir() / "examples" / "models" / "chatbot-model.json").read_text())
    model_file = Path(template).parent / f"model-{value}.json"
    model_file.write_text(json.dumps({**model, "name": f"model-{value}"}))
    return {"flask_app_src": app, "flask_app_env": {**group_vars["flask_app_env"], "FLASKSTACK_PROBE": value},
            "flask_app_config_files": [{"src": template, "dest": "probe.cfg"}], "probe_value": value,
            "flask_app_artifacts": [{"src": str(model_file), "dest": "chatbot-model.json"}], **more}


def test_the_environment_config_files_and_artifacts_go_live_with_their_release_and_roll_back_with_it(host, port, apps, probe_template):
    unit = f"uwsgi-{APP}"
    model = f"{BASE}/shared/artifacts/chatbot-model.json"
    # The live release as an older version left it: a real artifacts
    # directory holding its upload, no links of the release's own.
    old = current_release(host)
    old_model = sudo(host, f"sha256sum < {model}").stdout
    assert sudo(host, f"links={BASE}/releases/{old}/.flaskstack-artifacts && rm {BASE}/shared/artifacts"
                      f" && install -d -o root -g {APP} -m 0750 {BASE}/shared/artifacts"
                      f" && cp -L -p $links/chatbot-model.json {BASE}/shared/artifacts/ && rm -r $links").rc == 0
    result, report = deploy_under_load(port, "deploy.yml", with_probe(apps["v5"], "first", probe_template))
    assert result.returncode == 0 and report["failed"] == 0, (report, result.output[-3000:])
    first = current_release(host)
    assert probe(port) == "first"
    # That directory is now the old release's own (a rollback to it gets its model back).
    assert sudo(host, f"sha256sum < {BASE}/releases/{old}/.flaskstack-artifacts/chatbot-model.json").stdout == old_model
    assert sudo(host, f"readlink {BASE}/shared/artifacts").stdout.strip() == f"{BASE}/current/.flaskstack-artifacts"
    master = sudo(host, f"systemctl show -p MainPID --value {unit}").stdout.strip()

    # The same code with another environment and model: a new release, live by
    # a graceful reload (the same master, no restart), no request failed. Its
    # pre-switch command, run before the switch, sees the new release's model.
    sees_new_model = f"grep -q model-second {model}"
    result, report = deploy_under_load(port, "deploy.yml",
                                       with_probe(apps["v5"], "second", probe_template, flask_app_pre_switch_commands=[sees_new_model]))
    assert result.returncode == 0 and report["failed"] == 0, (report, result.output[-3000:])
    second = current_release(host)
    assert second != first and probe(port) == "second"
    assert sudo(host, f"systemctl show -p MainPID --value {unit}").stdout.strip() == master
    env_file = f"/etc/flaskstack/{APP}.env"
    assert sudo(host, f"readlink {env_file}").stdout.strip() == f"{BASE}/current/.flaskstack-env"
    assert sudo(host, f"stat -L -c '%U %G %a' {env_file} {BASE}/current/probe.cfg {model}").stdout.split() == ["root", APP, "640"] * 3
    # The model the app reads is the live release's link into the store of uploaded artifacts, named by its checksum.
    assert sudo(host, f"readlink {BASE}/shared/artifacts").stdout.strip() == f"{BASE}/current/.flaskstack-artifacts"
    stored = sudo(host, f"readlink -f {model}").stdout.strip()
    assert stored == f"{BASE}/artifacts/{sudo(host, f'sha256sum {model}').stdout.split()[0]}-0640", stored

    # A release whose import fails (v3), with a third environment, under
    # load: never put live, no request failed, every file the live release
    # reads stays byte-identical, and a restart still gives the live one's.
    before = live_files(host, APP)
    assert "probe.cfg" in before and "chatbot-model.json" in before, before
    result, report = deploy_under_load(port, "deploy.yml", with_probe(apps["v3"], "refused", probe_template))
    assert result.returncode != 0 and "was not put live" in result.output, result.output[-3000:]
    assert "RuntimeError: v3 is broken on purpose" in result.output, result.output[-3000:]
    assert report["failed"] == 0, report
    assert live_files(host, APP) == before
    assert current_release(host) == second
    assert sudo(host, f"systemctl restart {unit}").rc == 0
    assert wait_for(port, "/health", seconds=60)[1] is not None, "no answer 60 s after the restart"
    assert probe(port) == "second"

    # rollback.yml puts the release before back, and its environment with it.
    result = play("rollback.yml")
    assert result.returncode == 0, result.output[-3000:]
    assert current_release(host) == first and probe(port) == "first"


def test_git_source(host, port, apps, tmp_path, releases):
    work = tmp_path / "work"
    shutil.copytree(apps["v5"], work)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "v5"], check=True)
    subprocess.run([*git, "tag", "v5"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(tmp_path / "chatbot.git")], check=True)
    sudo(host, "mkdir -p /srv/gitrepos")
    copied = subprocess.run(
        ["podman", "cp", str(tmp_path / "chatbot.git"), f"{instance_name(host)}:/srv/gitrepos/chatbot.git"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert copied.returncode == 0, copied.stderr
    git_vars = {
        "flask_app_source": "git",
        "flask_app_git_repo": "file:///srv/gitrepos/chatbot.git",
        "flask_app_git_version": "v5",
    }
    # site.yml, under load, with a uWSGI setting changed too (its ini is
    # rewritten and uWSGI reloaded): no request fails.
    ini = f"/etc/uwsgi/{APP}.ini"
    result, report = deploy_under_load(port, "site.yml", {**git_vars, "flaskstack_uwsgi_harakiri": 61})
    assert result.returncode == 0 and report["failed"] == 0, (report, result.output[-3000:])
    assert "harakiri = 61" in sudo(host, f"cat {ini}").stdout
    assert version_of(port) == "5"
    releases["5"] = current_release(host)
    again = play("deploy.yml", git_vars)
    assert again.returncode == 0 and recap_changed(again.output) == 0, again.output


def test_archive_source(host, port, apps, tmp_path, releases):
    archive = tmp_path / "chatbot-6.tar.gz"
    subprocess.run(["tar", "-C", apps["v6"], "-czf", str(archive), "."], check=True)
    result = play("deploy.yml", {"flask_app_source": "archive", "flask_app_package_file": str(archive)})
    assert result.returncode == 0, result.output
    assert version_of(port) == "6"
    releases["6"] = current_release(host)


def test_wheel_source_with_an_app_factory(host, port, apps, tmp_path, releases):
    project = tmp_path / "project"
    package = project / "chatbot_pkg"
    package.mkdir(parents=True)
    code = Path(apps["v7"], "app_flask.py").read_text()
    code = code.replace("app = Flask(__name__)", "app = Flask(__name__)\n\n\ndef create_app():\n    return app")
    (package / "__init__.py").write_text(code)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "chatbot-pkg"\nversion = "7"\ndependencies = ["Flask==3.1.3"]\n'
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((tmp_path / "dist").glob("chatbot_pkg-7-*.whl"))
    result = play(
        "deploy.yml",
        {
            "flask_app_source": "wheel",
            "flask_app_package_file": str(wheel),
            "flask_app_requirements_file": "",
            "flask_app_wsgi": "chatbot_pkg:create_app()",
        },
    )
    assert result.returncode == 0, result.output
    assert version_of(port) == "7"
    releases["7"] = current_release(host)


# A real third-party app from PyPI, installed as a package: I Hate Money
# (a SQLite database it migrates at import, forms, static files inside the
# package, a Python settings file named by an environment variable, security
# headers of its own through flask-talisman).
IHM_SETTINGS = """\
SQLALCHEMY_DATABASE_URI = "sqlite:////srv/chatbot/shared/data/ihatemoney.db"
SECRET_KEY = "{{ ihm_secret_key }}"
SITE_NAME = "{{ ihm_site_name }}"
ACTIVATE_DEMO_PROJECT = False
SESSION_COOKIE_SECURE = False
MAIL_SUPPRESS_SEND = True
"""


def ihatemoney(settings):
    return {
        "flask_app_source": "packages",
        # Unpinned: the server resolves its version at each deploy (from /etc/pip.conf's find-links here).
        "flask_app_pip_packages": ["ihatemoney==7.2.1", "flaskstack-probe"],
        "flask_app_requirements_file": "",
        "flask_app_wsgi": "ihatemoney.wsgi:application",
        # The settings file of the release: through current, which the release check sees as the new release.
        "flask_app_env": {"IHATEMONEY_SETTINGS_FILE_PATH": f"{BASE}/current/ihatemoney.cfg"},
        "flask_app_config_files": [{"src": settings, "dest": "ihatemoney.cfg"}],
        # The inventory's nginx location /static/ serves current/static: here, the package's own.
        "flask_app_package_dirs": [{"package": "ihatemoney", "path": "static"}],
        "flask_app_artifacts": [],
        "flaskstack_healthcheck_path": "/healthcheck",
        "flask_app_healthcheck_text": "OK",
        "flask_app_keep_releases": 3,
        "ihm_site_name": "Budget",
        "ihm_secret_key": "ihm-test-key-not-secret",
        # The inventory's workers and job run the chatbot's commands, which
        # this app has not: none here (the test stops the chatbot's).
        "uwsgi_background_workers": [],
    }


@pytest.fixture()
def probe_wheels(host, tmp_path):
    """flaskstack-probe 1.0 in a find-links directory on the server (2.0 built
    beside it, published by the test); removed afterwards."""
    wheels = {}
    for version in ("1.0", "2.0"):
        project = tmp_path / f"probe-{version}"
        (project / "flaskstack_probe").mkdir(parents=True)
        (project / "flaskstack_probe" / "__init__.py").write_text(f'VERSION = "{version}"\n')
        (project / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "flaskstack-probe"\nversion = "{version}"\n'
        )
        built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(project)],
                               capture_output=True, text=True, check=False)
        assert built.returncode == 0, built.stderr
        wheels[version] = next(tmp_path.glob(f"flaskstack_probe-{version}-*.whl"))
    assert sudo(host, "mkdir -p /srv/wheels && printf '[global]\\nfind-links = /srv/wheels\\n' > /etc/pip.conf").rc == 0

    def publish(version):
        copied = subprocess.run(["podman", "cp", str(wheels[version]), f"{instance_name(host)}:/srv/wheels/"], capture_output=True, text=True, check=False)
        assert copied.returncode == 0, copied.stderr

    publish("1.0")
    yield publish
    sudo(host, "rm -rf /srv/wheels /etc/pip.conf")


def test_a_real_pypi_app_keeps_its_data_through_new_upstream_versions_and_a_rollback(host, port, tmp_path, releases, probe_wheels):
    settings = tmp_path / "ihatemoney.cfg.j2"
    settings.write_text(IHM_SETTINGS)
    assert sudo(host, f"systemctl stop {APP}-workers.target {APP}-job-heartbeat.timer").rc == 0

    def probe_version():
        return sudo(host, f"{BASE}/current/venv/bin/python -c 'import flaskstack_probe; print(flaskstack_probe.VERSION)'").stdout.strip()

    result, report = deploy_under_load(port, "deploy.yml", ihatemoney(str(settings)), slow_path="/")
    assert result.returncode == 0 and report["failed"] == 0, (report, result.output[-4000:] + journal(host, f"uwsgi-{APP}"))
    releases["ihm-1"] = current_release(host)
    assert probe_version() == "1.0"
    home = request(port, "GET", "/")
    assert home.status == 200 and "Budget" in home.text(), home
    # Its own security headers, each once: nginx adds none of its own on top.
    names = [name.lower() for name, _ in home.header_lines]
    for name in ("x-frame-options", "x-content-type-options", "referrer-policy", "content-security-policy"):
        assert names.count(name) == 1, home.header_lines
    # Static files: nginx serves the package's directory (cached 7 days), not the app (which says no-cache).
    css = request(port, "GET", "/static/css/main.css")
    on_disk = sudo(host, f"sha256sum {BASE}/current/static/css/main.css").stdout.split()[0]
    assert css.status == 200 and hashlib.sha256(css.body).hexdigest() == on_disk, css
    assert css.headers.get("Cache-Control") == "max-age=604800", css.headers
    # Found with the release's own Python: through the release's venv link, no python3.X in the nginx path.
    assert re.fullmatch(rf"{BASE}/releases/[0-9a-f]{{12}}/venv/lib/python3[.][0-9]+/site-packages/ihatemoney/static",
                        sudo(host, f"readlink {BASE}/current/static").stdout.strip())

    # A real write through its API: a project and a member, in its database in shared/data.
    auth = {"Authorization": "Basic " + base64.b64encode(b"trip:s3cret-pass").decode()}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    created = request(port, "POST", "/api/projects", headers=form,
                      body=b"name=Trip&id=trip&password=s3cret-pass&contact_email=a%40example.com&default_currency=XXX")
    assert created.status == 201, created
    member = request(port, "POST", "/api/projects/trip/members", headers={**auth, **form}, body=b"name=alice")
    assert member.status == 201, member

    def project():
        resp = request(port, "GET", "/api/projects/trip", headers=auth)
        assert resp.status == 200, resp
        return [m["name"] for m in json.loads(resp.body)["members"]]

    assert project() == ["alice"]

    # Refused releases under load, for the two causes the chatbot's tests
    # cannot show: a package directory that is not in the package, and a
    # health check that fails after the switch (rolled back with the data in
    # place). Every file the live release reads stays as it was, and so does
    # the data. (The import error, a failing pre-switch command and a pip
    # failure are the chatbot's, with the same live-file checksums.)
    before = live_files(host, APP)
    causes = [
        ("package dir", {"flask_app_package_dirs": [{"package": "ihatemoney", "path": "no-such-dir"}]}, "flask_app_package_dirs names ihatemoney"),
        ("health check", {"ihm_site_name": "Sick", "flask_app_healthcheck_text": "not in the answer"},
         f"Rolled back to release {releases['ihm-1']}"),
    ]
    with LoadClient([("127.0.0.1", port)], path="/healthcheck", concurrency=2, max_seconds=200) as load:
        for cause, change, said in causes:
            result = play("deploy.yml", {**ihatemoney(str(settings)), **change})
            assert result.returncode != 0 and said in " ".join(result.output.split()), (cause, result.output[-3000:])
            assert live_files(host, APP) == before, cause
    report = load.report()
    print(f"load during the refused releases: {report}")
    assert report["failed"] == 0 and report["ok"] > 50, report
    assert current_release(host) == releases["ihm-1"] and project() == ["alice"]

    # A new upstream version, the same settings: a new release, under load; the data stays.
    probe_wheels("2.0")
    result, report = deploy_under_load(port, "deploy.yml", ihatemoney(str(settings)), slow_path="/")
    assert result.returncode == 0 and report["failed"] == 0, (report, result.output[-4000:])
    releases["ihm-2"] = current_release(host)
    assert releases["ihm-2"] != releases["ihm-1"] and probe_version() == "2.0"
    assert project() == ["alice"]
    # Nothing new upstream: nothing changes.
    again = play("deploy.yml", ihatemoney(str(settings)))
    assert again.returncode == 0 and recap_changed(again.output) == 0, again.output[-4000:]

    # And back: the previous release and its versions, the same data.
    result = play("rollback.yml", ihatemoney(str(settings)))
    assert result.returncode == 0, result.output[-4000:]
    assert current_release(host) == releases["ihm-1"] and probe_version() == "1.0"
    assert project() == ["alice"]


def test_keep_releases_prunes_old_ones_but_never_live_or_previous(host, releases):
    kept = sudo(host, f"ls {BASE}/releases").stdout.split()
    # keep 3: the live one (ihm-1, rolled back to), the previous one (ihm-2) and
    # the newest other (a refused one); the older ones are gone.
    assert len(kept) == 3 and releases["ihm-1"] in kept and releases["ihm-2"] in kept, (kept, releases)
    assert not {releases["1"], releases["2"], releases["6"]} & set(kept), (kept, releases)
    venvs = sudo(host, f"ls {BASE}/venvs").stdout.split()
    used = set(sudo(host, f"readlink {BASE}/releases/*/venv").stdout.split())
    assert {f"../../venvs/{v}" for v in venvs} == used, (venvs, used)
    # The store of artifacts keeps what the kept releases link to, and nothing
    # else: here nothing, as the kept ones are I Hate Money's, which has no
    # artifacts; the chatbot's models went with its releases.
    assert sudo(host, f"ls {BASE}/releases/*/.flaskstack-artifacts/chatbot-model.json").stdout == ""
    stored = sudo(host, f"ls {BASE}/artifacts").stdout.split()
    linked = set(sudo(host, f"find {BASE}/releases/*/.flaskstack-artifacts -type l -exec readlink {{}} +").stdout.split())
    assert {f"{BASE}/artifacts/{name}" for name in stored} == linked, (stored, linked)
    assert not stored, stored
