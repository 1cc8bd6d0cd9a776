"""Helpers shared by the Molecule scenarios' testinfra tests.

HTTP goes from the test runner to a container's published port on loopback,
so every request passes through the container's real nginx and uWSGI.
"""

import http.client
import json
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import yaml


def _scenario_config():
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    return yaml.safe_load((scenario / "molecule.yml").read_text())


def published_port(instance, container_port=80):
    """Loopback port that molecule.yml publishes for INSTANCE's CONTAINER_PORT."""
    for platform in _scenario_config()["platforms"]:
        if platform["name"] != instance:
            continue
        for mapping in platform.get("published_ports", []):
            parts = str(mapping).split(":")
            if int(parts[-1]) == container_port:
                return int(parts[-2])
    raise LookupError(f"{instance} publishes no port for {container_port} in molecule.yml")


def node(name):
    """A testinfra host for another instance of this scenario (multi-host scenarios)."""
    import testinfra

    return testinfra.get_host(
        f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"], ssh_identity_file=str(ssh_key())
    )


def ssh_key():
    """The private key the scenarios connect with (molecule/shared/ssh_key.sh)."""
    return project_dir() / ".cache" / "ssh" / "id_ed25519"


def instance_name(host):
    return host.backend.get_hostname()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        # Every header line as sent (a name twice shows twice); .headers keeps the last of each.
        self.header_lines = list(headers)
        self.headers = dict(headers)
        self.body = body

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<HTTP {self.status} {self.text()[:300]!r}>"


def request(port, method, path, body=None, headers=None, timeout=30, body_size=None, send_body=True, tls=False):
    """One HTTP request to 127.0.0.1:PORT (HTTPS when TLS, sending the Host header as SNI).

    BODY_SIZE (without BODY) sends a body of that many zero bytes in 1 MiB chunks,
    so large uploads need no memory; SEND_BODY=False sends only the headers that
    announce it, to see what the server answers before any body arrives.
    """
    headers = dict(headers or {})
    if tls:
        # The certificate is self-signed: what is tested here is the answer, not the trust.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
        if "Host" in headers:
            raw = socket.create_connection(("127.0.0.1", port), timeout)
            conn.sock = context.wrap_socket(raw, server_hostname=headers["Host"])
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding="Accept-Encoding" in headers)
        if body is not None:
            headers.setdefault("Content-Length", str(len(body)))
        elif body_size is not None:
            headers.setdefault("Content-Length", str(body_size))
        for key, value in headers.items():
            conn.putheader(key, value)
        conn.endheaders()
        if body is not None:
            conn.send(body)
        elif body_size and send_body:
            chunk = b"\0" * (1 << 20)
            left = body_size
            while left > 0:
                conn.send(chunk[: min(left, len(chunk))])
                left -= min(left, len(chunk))
        resp = conn.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def wait_for(port, path="/", status=200, seconds=10.0, interval=0.2):
    """Poll until PATH answers STATUS; return (response, elapsed) or (last seen, None)."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < seconds:
        try:
            last = request(port, "GET", path, timeout=2)
            if last.status == status:
                return last, time.monotonic() - start
        except OSError as exc:
            last = exc
        time.sleep(interval)
    return last, None


def uwsgi_stats(host, instance):
    """uWSGI's stats (JSON) of INSTANCE, read as root from its stats socket."""
    reader = (
        "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
        "print(b''.join(iter(lambda: s.recv(65536), b'')).decode())"
    )
    out = sudo(host, f"python3 -c {shlex.quote(reader)} /run/uwsgi-{instance}/stats.sock")
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


def requests_served(host, instance):
    """Requests INSTANCE's workers have served since it started."""
    return sum(worker["requests"] for worker in uwsgi_stats(host, instance)["workers"])


def enqueue_job(port, seconds=0):
    """Queue the example app's version_job (POST /api/jobs); its id."""
    resp = request(port, "POST", f"/api/jobs?seconds={seconds}", body=b"")
    assert resp.status == 202, resp
    return json.loads(resp.body)["id"]


def job_state(port, job_id, until=("finished", "failed"), seconds=60.0):
    """Poll GET /api/jobs/<id> until its status is one of UNTIL; the last state seen."""
    deadline = time.monotonic() + seconds
    while True:
        resp = request(port, "GET", f"/api/jobs/{job_id}")
        assert resp.status == 200, resp
        state = json.loads(resp.body)
        if state["status"] in until or time.monotonic() > deadline:
            return state
        time.sleep(0.3)


def sudo(host, command):
    """Run COMMAND as root on HOST (the tests connect as the cloud user)."""
    return host.run(f"sudo -n sh -c {shlex.quote(command)}")


def live_files(host, app):
    """A checksum of every file APP's live release reads (code, environment,
    config files, artifacts through their links, the venv's link, uWSGI's
    config), one line each: a refused or failed deploy must leave it equal."""
    base = f"/srv/{app}"
    script = (
        f"readlink {base}/current {base}/current/venv {base}/shared/artifacts /etc/flaskstack/{app}.env; "
        f"cd {base}/current && find -L . \\( -path ./venv -o -path ./instance \\) -prune -o -type f -print | LC_ALL=C sort | xargs -d '\\n' sha256sum; "
        f"sha256sum /etc/uwsgi/{app}.ini"
    )
    out = sudo(host, script)
    assert out.rc == 0 and ".flaskstack-env" in out.stdout, out.stdout + out.stderr
    return out.stdout


def journal(host, unit, lines=40):
    out = sudo(host, f"journalctl -u {unit} --no-pager -n {lines} -o cat")
    return f"\n--- journal of {unit} ---\n{out.stdout}{out.stderr}"


def project_dir():
    return Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[2]))


def run_playbook(playbook, extra_vars=None, timeout=900, tags=None, args=(), more_env=None):
    """Run one of the collection's playbooks (or a playbook at an absolute path) against this scenario's hosts.

    Uses the scenario's own inventory (the tencent group_vars plus the
    containers' connection), as converge does. Returns the CompletedProcess
    with stdout and stderr merged into .output. ARGS are more
    ansible-playbook arguments (-v, --vault-password-file, -e @file, ...);
    MORE_ENV more environment variables (ANSIBLE_STDOUT_CALLBACK, ...).
    """
    root = project_dir()
    inventory = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(root / "ansible.cfg"),
        # The matrix's collections (ansible.posix...): the venvs of other
        # ansible-core versions have no `ansible` package to bring them.
        ANSIBLE_COLLECTIONS_PATH=f"{root / '.collections'}:{root / '.cache' / 'matrix' / 'collections'}",
        ANSIBLE_PRIVATE_KEY_FILE=str(ssh_key()),
        CONTAINERS_CONF=str(root / "molecule" / "shared" / "containers.conf"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        **(more_env or {}),
    )
    # The ansible-playbook first on PATH: run_scenarios.sh puts the venv of the
    # ansible-core the scenario converges with there (MOLECULE_CORES).
    ansible_playbook = shutil.which("ansible-playbook") or str(Path(sys.executable).parent / "ansible-playbook")
    command = [ansible_playbook, "-i", str(inventory), str(root / "playbooks" / playbook)]
    if tags:
        command += ["--tags", tags]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    command += list(args)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    result.output = result.stdout + result.stderr
    return result


def recap_changed(output):
    """Sum of changed= over the PLAY RECAP lines of a playbook run."""
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output.split("PLAY RECAP")[-1]))


def make_version(root, version, breakage=""):
    """A copy of the example app with VERSION changed and, optionally, a defect."""
    dest = Path(root) / f"v{version}"
    shutil.copytree(project_dir() / "examples" / "chatbot", dest)
    code = (dest / "app_flask.py").read_text().replace('VERSION = "1"', f'VERSION = "{version}"')
    if breakage == "import":
        code = code.replace("MODEL = load_model", 'raise RuntimeError("v3 is broken on purpose")\nMODEL = load_model')
    if breakage == "health":
        code = code.replace('return jsonify(status="ok", version=VERSION, host=HOST)', 'return jsonify(status="sick"), 503')
    if breakage.startswith("health on "):
        # Sick only on the named server: a roll-out that fails half-way.
        sick = breakage[len("health on ") :]
        code = code.replace(
            'return jsonify(status="ok", version=VERSION, host=HOST)',
            f'return (jsonify(status="sick"), 503) if HOST == "{sick}" else jsonify(status="ok", version=VERSION, host=HOST)',
        )
    # What the app sees of one variable of its environment and of a config
    # file of its release (probe.cfg, read at import), for the tests of
    # environments and config files that go live (and roll back) with their release.
    code += (
        '\n\n_PROBE_CFG = os.path.join(os.path.dirname(os.path.realpath(__file__)), "probe.cfg")\n'
        'PROBE_CONFIG = open(_PROBE_CFG).read().strip() if os.path.exists(_PROBE_CFG) else ""\n'
        '\n\n@app.get("/api/env-probe")\ndef env_probe():\n'
        '    return jsonify(value=os.environ.get("FLASKSTACK_PROBE", ""), config=PROBE_CONFIG, model=MODEL.get("name", ""))\n'
    )
    (dest / "app_flask.py").write_text(code)
    if breakage.startswith("requirement "):
        # A requirement pip cannot install: the release's virtualenv build fails.
        with (dest / "requirements.txt").open("a") as handle:
            handle.write(breakage[len("requirement ") :] + "\n")
    return str(dest)
