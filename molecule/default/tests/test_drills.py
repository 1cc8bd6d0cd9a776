"""Least privilege, secrets and failure drills, on the converged single servers.

Runs after test_default.py (file order) and ends with a restart of the
container; test_status.py and test_upgrade_and_rollback.py follow on the
same server. The drills that run playbooks (secrets with -v, a failing pip
install, concurrent runs) leave v6 live with the vault's secrets.
"""

import hashlib
import re
import secrets
import subprocess
import threading
import time
from pathlib import Path

import pytest
from flaskstack_testlib import (
    instance_name,
    journal,
    live_files,
    make_version,
    node,
    published_port,
    recap_changed,
    request,
    run_playbook,
    sudo,
    wait_for,
)
from loadclient import LoadClient

APP = "chatbot"
UNIT = f"uwsgi-{APP}"
BASE = f"/srv/{APP}"
ENV_FILE = f"/etc/flaskstack/{APP}.env"
# The server the playbook drills run on.
DRILL = "flaskstack-deb12"
LIMIT = ["--limit", DRILL]
# Part of the value of each secret, searched for everywhere it must not be.
SECRETS = {
    "SECRET_KEY": "sk-" + secrets.token_hex(16),
    "DATABASE_URL": "postgresql://chatbot:pw-" + secrets.token_hex(12) + "@db.internal/chatbot",
    "API_KEY": "ak-" + secrets.token_hex(16),
}
NEEDLES = [SECRETS["SECRET_KEY"], "pw-" + SECRETS["DATABASE_URL"].split("pw-")[1].split("@")[0], SECRETS["API_KEY"]]


@pytest.fixture()
def port(host):
    return published_port(instance_name(host))


@pytest.fixture(scope="module")
def vault(tmp_path_factory):
    """The secrets as an ansible-vault encrypted vars file, and the password file."""
    root = tmp_path_factory.mktemp("vault")
    password = root / "vault-password"
    password.write_text(secrets.token_hex(16) + "\n")
    password.chmod(0o600)
    vars_file = root / "vault.yml"
    lines = ["vault_flask_app_secrets:"] + [f'  {key}: "{value}"' for key, value in SECRETS.items()]
    vars_file.write_text("\n".join(lines) + "\n")
    ansible_vault = str(Path(subprocess.check_output(["which", "ansible-playbook"], text=True).strip()).parent / "ansible-vault")
    subprocess.run([ansible_vault, "encrypt", "--vault-password-file", str(password), str(vars_file)], check=True, capture_output=True)
    assert NEEDLES[0] not in vars_file.read_text()
    return ["--vault-password-file", str(password), "-e", f"@{vars_file}", *LIMIT]


def drift_state():
    """What the drift drill's hand edits change (the environment file by its
    mode only: the vault's secrets change its content)."""
    site, site_link, ini = f"/etc/nginx/sites-available/{APP}.conf", f"/etc/nginx/sites-enabled/{APP}.conf", f"/etc/uwsgi/{APP}.ini"
    data, model = f"{BASE}/shared/data", f"{BASE}/shared/artifacts/chatbot-model.json"
    script = (
        f"sha256sum {site} {ini} {model}; stat -L -c '%n %U %G %a' {ENV_FILE}; "
        f"stat -L -c '%n %U %G %a' {data} {model} {BASE}/shared/artifacts; "
        f"readlink {site_link}; systemctl is-active nginx {UNIT}; systemctl is-enabled nginx; "
        "test -e /etc/nginx/sites-enabled/default && echo default-site-back || true"
    )
    return sudo(node(DRILL), script).stdout


# Hand edits a re-run must see and put back: config files, a link, modes,
# the model's content and owner, a stopped and disabled service.
DRIFT = (
    f"echo '# edited by hand' >> /etc/nginx/sites-available/{APP}.conf && echo 'processes = 1' >> /etc/uwsgi/{APP}.ini"
    f" && rm /etc/nginx/sites-enabled/{APP}.conf && chmod 0644 {ENV_FILE} && chmod 0777 {BASE}/shared/data"
    f" && echo 'x' >> {BASE}/shared/artifacts/chatbot-model.json && chown root:root {BASE}/shared/artifacts/chatbot-model.json"
    f" && chmod 0755 {BASE}/shared/artifacts && systemctl stop nginx && systemctl disable nginx"
)


@pytest.fixture(scope="module")
def site_with_secrets(vault):
    """site.yml with the vault's secrets, verbose, run after the hand edits of
    DRIFT (one run for both drills): the result, and the drift state before
    the edits, after them and after the run."""
    before = drift_state()
    assert sudo(node(DRILL), DRIFT).rc == 0
    edited = drift_state()
    result = run_playbook("site.yml", args=["-v", *vault])
    return result, (before, edited, drift_state())


@pytest.fixture(scope="module")
def failed_pip_deploy(vault, tmp_path_factory):
    """deploy.yml of a release with a requirement pip cannot install, verbose, under load."""
    app = make_version(tmp_path_factory.mktemp("apps"), 5, "requirement flaskstack-no-such-package==9.9.9")
    port = published_port(DRILL)
    before = (request(port, "GET", "/health").text(), live_files(node(DRILL), APP))
    with LoadClient([("127.0.0.1", port)], path="/health", concurrency=4, max_seconds=300) as load:
        result = run_playbook("deploy.yml", {"flask_app_src": app}, args=["-v", *vault])
    after = (request(port, "GET", "/health").text(), live_files(node(DRILL), APP))
    return result, load.report(), before, after


# Least privilege


def test_uwsgi_unit_exposure_score_is_at_most_3(host):
    out = sudo(host, f"systemd-analyze security --no-pager {UNIT}.service")
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout)
    assert out.rc == 0 and match, out.stdout + out.stderr
    score = float(match.group(1))
    print(f"{instance_name(host)}: systemd-analyze security {UNIT}.service: {score}")
    assert score <= 3.0, out.stdout


def test_nginx_unit_exposure_score_is_at_most_5_and_it_serves_after_a_reload(host, port):
    out = sudo(host, "systemd-analyze security --no-pager nginx.service")
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout)
    assert out.rc == 0 and match, out.stdout + out.stderr
    score = float(match.group(1))
    print(f"{instance_name(host)}: systemd-analyze security nginx.service: {score}")
    assert score <= 5.0, out.stdout
    master = sudo(host, "cat /run/nginx.pid").stdout.strip()
    status = sudo(host, f"cat /proc/{master}/status").stdout
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M) and re.search(r"^Seccomp:\s+2$", status, re.M), status
    # A reload inside the sandbox: the master re-reads the config and starts new workers.
    workers = "pgrep -u www-data -x nginx | sort"
    before = sudo(host, workers).stdout.split()
    reload = sudo(host, "systemctl reload nginx")
    assert reload.rc == 0, reload.stderr + journal(host, "nginx")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (set(sudo(host, workers).stdout.split()) - set(before)):
        time.sleep(0.5)
    assert set(sudo(host, workers).stdout.split()) - set(before), f"no new workers after a reload{journal(host, 'nginx')}"
    assert sudo(host, "cat /run/nginx.pid").stdout.strip() == master, "a reload must keep the master"
    assert request(port, "GET", "/health").status == 200, journal(host, "nginx")


def test_workers_run_sandboxed(host):
    pids = sudo(host, f"pgrep -u {APP} -f 'uwsgi --ini'").stdout.split()
    assert len(pids) >= 2, f"no uWSGI processes of {APP}{journal(host, UNIT)}"
    for pid in pids:
        status = sudo(host, f"cat /proc/{pid}/status").stdout
        assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), status
        assert re.search(r"^Seccomp:\s+2$", status, re.M), status
        assert re.search(r"^CapEff:\s+0+$", status, re.M) and re.search(r"^CapBnd:\s+0+$", status, re.M), status
        # The last mount on a path is the one the process sees.
        mounts = {line.split()[4]: line.split()[5] for line in sudo(host, f"cat /proc/{pid}/mountinfo").stdout.splitlines()}
        assert mounts["/"].startswith("ro"), f"/ is not read-only for the app: {mounts['/']}"
        assert mounts[f"{BASE}/shared"].startswith("rw"), mounts
        assert "/tmp" in mounts, "no private /tmp"


def test_the_app_user_writes_only_its_data(host):
    # File permissions, without the sandbox: what the app user may write at all.
    def can_write(path):
        return sudo(host, f"runuser -u {APP} -- sh -c 'touch {path}/.w && rm {path}/.w'").rc == 0

    live = sudo(host, f"readlink -f {BASE}/current").stdout.strip()
    artifacts = f"{BASE}/shared/artifacts"
    for path in [live, f"{live}/venv/bin", f"{BASE}/uwsgi/bin", f"{BASE}/releases", f"{BASE}/venvs", "/etc/flaskstack", "/etc/uwsgi",
                 f"{BASE}/shared", artifacts]:
        assert not can_write(path), f"{APP} can write {path}"
    for path in [f"{BASE}/shared/data", f"{BASE}/shared/instance"]:
        assert can_write(path), f"{APP} cannot write its data directory {path}"
    # The model: readable by the app, but it can neither replace, rename nor remove it.
    model = f"{artifacts}/chatbot-model.json"
    assert sudo(host, f"runuser -u {APP} -- cat {model} >/dev/null").rc == 0, f"{APP} cannot read {model}"
    for attempt in (f"mv {model} {model}.x", f"rm -f {model}", f"sh -c 'echo x >> {model}'", f"mv {artifacts} {BASE}/shared/data/a"):
        assert sudo(host, f"runuser -u {APP} -- {attempt}").rc != 0, f"{APP} could: {attempt}"
    assert sudo(host, f"stat -L -c '%U %G %a' {artifacts} {model}").stdout.split() == ["root", APP, "750", "root", APP, "640"]


def test_the_sandboxed_app_fully_works(port):
    # The example app under the sandbox: its model file, a JSON reply, a 5 MB upload streamed through.
    reply = request(port, "POST", "/api/chat", body=b'{"message": "hello"}', headers={"Content-Type": "application/json"})
    assert reply.status == 200 and "deployed by flaskstack" in reply.text(), reply
    upload = request(port, "POST", "/api/upload", body_size=5 * 1024 * 1024)
    assert upload.status == 200, upload


# Secrets


def test_secrets_never_appear_in_verbose_output(site_with_secrets):
    result = site_with_secrets[0]
    assert result.returncode == 0, result.output[-3000:]
    assert "-v" in result.args
    for needle in NEEDLES:
        assert needle not in result.output


def test_secrets_reach_the_app_only_through_its_environment_file(site_with_secrets):
    assert site_with_secrets[0].returncode == 0
    host = node(DRILL)
    live_env = sudo(host, f"readlink -f {ENV_FILE}").stdout.strip()
    assert re.fullmatch(rf"{BASE}/releases/[0-9a-f]{{12}}/\.flaskstack-env", live_env), live_env
    env = host.file(live_env)
    assert (env.user, env.group, env.mode) == ("root", APP, 0o640)
    content = sudo(host, f"cat {ENV_FILE}").stdout
    for needle in NEEDLES:
        assert needle in content
    # The live release's reader (flaskstack_env.py, which its flaskstack_wsgi.py
    # runs before the app) gives them to the app's user; that the running app
    # sees its release's values is test_upgrade_and_rollback's environment test.
    # (/proc/<pid>/environ shows a process's environment at exec, not these.)
    # Its digest only: a secret on a command line would land in the journal.
    loaded = sudo(host, f"runuser -u {APP} -- {BASE}/current/venv/bin/python -c "
                        f"'import sys; sys.path[:0] = [\"{BASE}/current\"]; import flaskstack_env, os, hashlib; "
                        f"flaskstack_env.apply(); print(hashlib.sha256(os.environ[\"SECRET_KEY\"].encode()).hexdigest())'")
    assert loaded.stdout.strip() == hashlib.sha256(SECRETS["SECRET_KEY"].encode()).hexdigest(), loaded.stdout + loaded.stderr
    # No process shows them on its command line.
    commands = sudo(host, "ps -eo args").stdout
    for needle in NEEDLES:
        assert needle not in commands
    # No file but the environment file holds them (as root, everything but the
    # kernel's files). The patterns go in on stdin: on a command line they
    # would land in the journal (sudo and Ansible log commands) and be found there.
    found = subprocess.run(
        ["podman", "exec", "-i", DRILL, "grep", "-rlF", "-f", "-", "/", "--exclude-dir=proc", "--exclude-dir=sys", "--exclude-dir=dev"],
        input="\n".join(NEEDLES) + "\n", capture_output=True, text=True, timeout=300, check=False,
    ).stdout.split()
    # Each release keeps its own (the link in /etc is not followed).
    assert live_env in found and all(re.fullmatch(rf"{BASE}/releases/[0-9a-f]{{12}}/\.flaskstack-env", f) for f in found), found


# Failure drills


# Drift: a re-run must see what a hand edit changed and put it back.


def test_a_rerun_puts_back_what_was_changed_by_hand(site_with_secrets):
    result, (before, edited, after) = site_with_secrets
    assert edited != before
    assert result.returncode == 0, result.output[-4000:]
    # The edits, and the new release the secrets make.
    assert recap_changed(result.output) >= 6, result.output[-4000:]
    assert after == before, f"before the edits:\n{before}\nafter the re-run:\n{after}"
    assert request(published_port(DRILL), "GET", "/health").status == 200


def test_a_failing_pip_install_keeps_the_live_release(failed_pip_deploy):
    result, load, before, after = failed_pip_deploy
    print(f"load during the failed deploy: {load}")
    assert result.returncode != 0, result.output[-3000:]
    assert "flaskstack-no-such-package" in result.output, result.output[-3000:]
    assert "Deploy stopped at" in result.output, result.output[-3000:]
    assert load["failed"] == 0 and load["ok"] > 50, load
    assert after == before, (before, after)
    assert node(DRILL).run("test -e /run/flaskstack/deploy.lock").rc != 0, "the failed run left its lock"


def test_a_failed_verbose_run_shows_no_secret(failed_pip_deploy):
    result = failed_pip_deploy[0]
    for needle in NEEDLES:
        assert needle not in result.output


def test_an_existing_account_the_collection_did_not_make_is_refused_before_any_change():
    # A login user of the server given as the app's user: refused on the
    # server (getent, read only) before the lock and before any change.
    host = node(DRILL)
    assert sudo(host, "id -u alice >/dev/null 2>&1 || useradd -m -s /bin/bash alice").rc == 0
    state = (
        f"getent passwd alice {APP}; sha256sum {ENV_FILE} /etc/nginx/sites-available/{APP}.conf /etc/uwsgi/{APP}.ini; "
        f"readlink {BASE}/current; ls /run/flaskstack"
    )
    before = sudo(host, state).stdout
    try:
        result = run_playbook("site.yml", {"flask_app_user": "alice"}, args=LIMIT)
        # The YAML callback quotes the message: '' for each '.
        out = " ".join(result.output.split()).replace("''", "'")
        assert result.returncode != 0, result.output[-3000:]
        assert "flask_app_user ('alice')" in out and "flaskstack.deploy did not create" in out, result.output[-3000:]
        assert sudo(host, state).stdout == before
        assert sudo(host, "test -e /run/flaskstack/deploy.lock").rc != 0, "the refused run left a lock"
    finally:
        sudo(host, "userdel -r alice")


def test_two_runs_at_once_the_second_waits_or_stops(vault, tmp_path_factory):
    host = node(DRILL)
    app = make_version(tmp_path_factory.mktemp("apps"), 6)
    results = {}

    def run(name, extra, delay=0.0):
        time.sleep(delay)
        results[name] = run_playbook("deploy.yml", extra, args=vault)

    first = threading.Thread(target=run, args=("first", {"flask_app_src": app}))
    first.start()
    start = time.monotonic()
    while sudo(host, "test -d /run/flaskstack/deploy.lock").rc != 0:
        assert time.monotonic() - start < 120 and first.is_alive(), "the first run never took the lock"
        time.sleep(0.5)
    # One run that waits at most 3 s, one that waits as long as it takes.
    impatient = threading.Thread(target=run, args=("impatient", {"flask_app_src": app, "flaskstack_lock_wait": 3}))
    patient = threading.Thread(target=run, args=("patient", {"flask_app_src": app}))
    impatient.start()
    patient.start()
    for thread in (first, impatient, patient):
        thread.join(timeout=900)
    assert results["first"].returncode == 0, results["first"].output[-3000:]
    out = results["impatient"].output
    assert results["impatient"].returncode != 0 and "Another run holds the deploy lock" in out, out[-3000:]
    assert "deploy.yml run by" in out and recap_changed(out) == 0, out[-3000:]
    out = results["patient"].output
    assert results["patient"].returncode == 0 and "for the deploy lock, held by deploy.yml run by" in " ".join(out.split()), out[-3000:]
    # It waited for the first run, then found v6 live already: nothing to do.
    assert recap_changed(out) == 0, out[-3000:]
    assert '"version":"6"' in request(published_port(DRILL), "GET", "/health").text().replace(" ", "")
    assert sudo(host, "test -e /run/flaskstack/deploy.lock").rc != 0, "a lock was left behind"


def test_nginx_comes_back_after_it_is_killed(host, port):
    sudo(host, "pkill -KILL -x nginx")
    start = time.monotonic()
    resp, elapsed = wait_for(port, "/health", seconds=10)
    assert elapsed is not None, f"no answer within 10 s of killing nginx: {resp}{journal(host, 'nginx')}"
    print(f"{instance_name(host)}: nginx answered again {time.monotonic() - start:.1f} s after kill -9 of all its processes")


def test_the_stack_answers_after_a_container_restart(host, port):
    name = instance_name(host)
    start = time.monotonic()
    subprocess.run(["podman", "restart", "--time", "10", name], check=True, capture_output=True, timeout=120)
    resp, _ = wait_for(port, "/health", seconds=60)
    elapsed = time.monotonic() - start
    assert resp is not None and getattr(resp, "status", None) == 200, f"no answer within 60 s of the restart: {resp}"
    print(f"{name}: answering {elapsed:.1f} s after `podman restart` (no manual step)")
    for unit in ("nginx", UNIT):
        assert host.service(unit).is_running, journal(host, unit)
