"""flask_app's release helper (files/flaskstack_release.py), without a server."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from render import environment

HELPER = ROOT / "roles" / "flask_app" / "files" / "flaskstack_release.py"
spec = importlib.util.spec_from_file_location("flaskstack_release", HELPER)
helper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(helper)


def make_release(base, name, venv, built, live=None):
    release = base / "releases" / name
    release.mkdir(parents=True)
    (base / "venvs" / venv).mkdir(parents=True, exist_ok=True)
    os.symlink(f"../../venvs/{venv}", release / "venv")
    marker = release / ".flaskstack-release"
    marker.write_text(name)
    os.utime(marker, (built, built))
    if live is not None:
        (release / ".flaskstack-live").write_text("")
        os.utime(release / ".flaskstack-live", (live, live))


def point_current(base, name):
    os.symlink(f"releases/{name}", base / "current")


def test_previous_is_the_newest_healthy_release_and_prune_spares_it(tmp_path):
    now = time.time()
    make_release(tmp_path, "a1", "v1", now - 600, live=now - 600)  # old, was healthy
    make_release(tmp_path, "b2", "v1", now - 500, live=now - 500)
    make_release(tmp_path, "c3", "v2", now - 400)  # never went live (failed its checks)
    make_release(tmp_path, "d4", "v3", now - 300)  # failed its health check: live marker removed
    make_release(tmp_path, "e5", "v1", now - 200, live=now - 100)
    point_current(tmp_path, "e5")
    state = helper.state(str(tmp_path), 2)
    assert state["current"] == "e5"
    assert state["previous"] == "b2"
    assert state["releases"] == ["e5", "d4", "c3", "b2", "a1"]
    assert sorted(state["prune"]) == ["a1", "c3", "d4"]
    assert state["unused_venvs"] == ["v2", "v3"]


def test_stored_artifacts_no_kept_release_links_to_are_unused(tmp_path):
    now = time.time()
    store = tmp_path / "artifacts"
    store.mkdir()
    for name in ["old-0640", "shared-0640", "new-0600"]:
        (store / name).write_text(name)
    for release, artifacts, built in [("a1", {"m.bin": "old-0640"}, now - 60), ("b2", {"m.bin": "shared-0640"}, now - 40),
                                      ("c3", {"m.bin": "shared-0640", "sub/tok.json": "new-0600"}, now - 20)]:
        make_release(tmp_path, release, "v1", built, live=built)
        for dest, stored in artifacts.items():
            link = tmp_path / "releases" / release / ".flaskstack-artifacts" / dest
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(store / stored, link)
    point_current(tmp_path, "c3")
    # a1 is pruned: its model goes with it; the one b2 and c3 share stays.
    state = helper.state(str(tmp_path), 2)
    assert state["prune"] == ["a1"]
    assert state["unused_artifacts"] == ["old-0640"]
    assert helper.state(str(tmp_path), 3)["unused_artifacts"] == []


def test_unfinished_releases_are_pruned_but_the_one_being_built(tmp_path):
    now = time.time()
    make_release(tmp_path, "a1", "v1", now - 60, live=now - 60)
    point_current(tmp_path, "a1")
    # Refused before they were complete (pip failed, a package dir was missing): no marker.
    for name in ("b2", "c3"):
        (tmp_path / "releases" / name).mkdir()
    state = helper.state(str(tmp_path), 5, "c3")
    assert state["releases"] == ["a1"]
    assert state["prune"] == ["b2"]
    assert helper.state(str(tmp_path), 5)["prune"] == ["b2", "c3"]


def test_keep_one_still_keeps_live_and_previous(tmp_path):
    now = time.time()
    make_release(tmp_path, "a1", "v1", now - 60, live=now - 60)
    make_release(tmp_path, "b2", "v1", now - 30, live=now - 30)
    point_current(tmp_path, "b2")
    assert helper.state(str(tmp_path), 1)["prune"] == []


def test_rollback_target(tmp_path):
    now = time.time()
    make_release(tmp_path, "a1", "v1", now - 60, live=now - 60)
    make_release(tmp_path, "b2", "v1", now - 30, live=now - 30)
    point_current(tmp_path, "b2")
    assert helper.state(str(tmp_path), 5)["target"] == "a1"
    assert helper.state(str(tmp_path), 5, "b2")["target"] == "b2"
    assert helper.state(str(tmp_path), 5, "ffff")["target"] == ""


def test_incomplete_releases_are_ignored(tmp_path):
    (tmp_path / "releases" / "half").mkdir(parents=True)
    assert helper.state(str(tmp_path), 5)["releases"] == []


ENV_MODULE = ROOT / "roles" / "flask_app" / "files" / "flaskstack_env.py"
env_spec = importlib.util.spec_from_file_location("flaskstack_env", ENV_MODULE)
flaskstack_env = importlib.util.module_from_spec(env_spec)
env_spec.loader.exec_module(flaskstack_env)


def test_env_file_values_round_trip_the_template_escapes(tmp_path):
    env = tmp_path / "app.env"
    env.write_text('# comment\nPLAIN="x y"\nQUOTED="say \\"hi\\" \\\\ bye"\n\n')
    assert flaskstack_env.read(str(env)) == {"PLAIN": "x y", "QUOTED": 'say "hi" \\ bye'}
    env.write_text('PLAIN="x"\nexport BAD=1\n')
    with pytest.raises(ValueError, match="app.env:2: not a KEY"):
        flaskstack_env.read(str(env))


def test_a_reloaded_master_gets_the_new_release_environment_and_loses_dropped_keys(tmp_path):
    # A uWSGI master re-executed by a graceful reload keeps its environment:
    # the keys of the release it ran before that the new one lacks must go,
    # the rest must be the new release's; what the service set itself stays.
    old, new = tmp_path / "old.env", tmp_path / "new.env"
    old.write_text('A="1"\nDROPPED="x"\n')
    new.write_text('A="2"\nADDED="y"\n')
    environ = {"PATH": "/usr/bin"}
    flaskstack_env.apply(str(old), environ)
    assert environ == {"PATH": "/usr/bin", "A": "1", "DROPPED": "x", "FLASKSTACK_ENV_KEYS": "A,DROPPED"}
    flaskstack_env.apply(str(new), environ)
    assert environ == {"PATH": "/usr/bin", "A": "2", "ADDED": "y", "FLASKSTACK_ENV_KEYS": "A,ADDED"}


def release_with_env(tmp_path, values):
    shutil.copy(ENV_MODULE, tmp_path / "flaskstack_env.py")
    (tmp_path / ".flaskstack-env").write_text("".join(f'{k}="{v}"\n' for k, v in values.items()))


def test_check_imports_a_factory_and_reports_a_broken_import(tmp_path):
    (tmp_path / "goodapp.py").write_text("def create_app():\n    return lambda environ, start: []\n")
    (tmp_path / "badapp.py").write_text("raise RuntimeError('broken on purpose')\n")
    release_with_env(tmp_path, {"X": "1"})

    def run(entry):
        args = [sys.executable, str(HELPER), "check", f"--release={tmp_path}", f"--chdir={tmp_path}", "import", entry]
        return subprocess.run(args, capture_output=True, text=True, check=False)

    assert run("goodapp:create_app()").returncode == 0
    bad = run("badapp:app")
    assert bad.returncode == 1 and "RuntimeError: broken on purpose" in bad.stderr
    not_callable = run("goodapp:__name__")
    assert not_callable.returncode == 1 and "not a WSGI callable" in not_callable.stderr


def test_check_runs_a_command_with_the_release_environment(tmp_path):
    release_with_env(tmp_path, {"FROM_RELEASE": "yes"})
    args = [sys.executable, str(HELPER), "check", f"--release={tmp_path}", f"--chdir={tmp_path}", "run", 'echo "[$FROM_RELEASE]"']
    out = subprocess.run(args, capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.strip() == "[yes]", out


def test_switch_renames_current_and_marks_the_release_live(tmp_path):
    make_release(tmp_path, "a1", "v1", time.time() - 60)
    make_release(tmp_path, "b2", "v1", time.time() - 30)
    point_current(tmp_path, "a1")
    assert helper.switch(str(tmp_path), "b2") == 0
    assert os.readlink(tmp_path / "current") == "releases/b2"
    assert (tmp_path / "releases" / "b2" / ".flaskstack-live").exists()
    state = json.loads(json.dumps(helper.state(str(tmp_path), 5)))
    assert state["current"] == "b2"


def _fake_uwsgi(answer):
    """A one-shot server that decodes a uwsgi protocol request and answers with ANSWER(vars)."""
    import socket
    import struct
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    seen = {}

    def serve():
        conn, _ = server.accept()
        with conn:
            modifier1, size, modifier2 = struct.unpack("<BHB", conn.recv(4, socket.MSG_WAITALL))
            data = conn.recv(size, socket.MSG_WAITALL)
            seen["modifiers"] = (modifier1, modifier2)
            while data:
                (klen,) = struct.unpack("<H", data[:2])
                key, data = data[2 : 2 + klen].decode(), data[2 + klen :]
                (vlen,) = struct.unpack("<H", data[:2])
                seen[key], data = data[2 : 2 + vlen].decode(), data[2 + vlen :]
            conn.sendall(answer(seen))
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"127.0.0.1:{server.getsockname()[1]}", seen


def test_probe_speaks_the_uwsgi_protocol():
    address, seen = _fake_uwsgi(lambda env: b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nbusy " + env["PATH_INFO"].encode())
    result = helper.probe(address, "/health?deep=1", host="chat.example.test", timeout=5)
    assert result == {"status": 503, "body": "busy /health", "error": ""}
    assert seen["modifiers"] == (0, 0)
    assert (seen["QUERY_STRING"], seen["HTTP_HOST"], seen["REQUEST_METHOD"]) == ("deep=1", "chat.example.test", "GET")


def test_probe_reports_a_refused_connection():
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = helper.probe(f"127.0.0.1:{port}", "/health", timeout=2)
    assert result["status"] is None and "refused" in result["error"].lower()


@pytest.mark.parametrize("entry", ["app_flask:app", "app_flask:create_app()"])
def test_the_wsgi_entry_loads_its_release_environment_before_the_app(tmp_path, entry):
    # The rendered flaskstack_wsgi.py in a release: the app reads, at import
    # time, the value of the release's own environment file.
    text = environment("flask_app").get_template("flaskstack_wsgi.py.j2").render(
        flask_app_wsgi=entry, _flask_app_release_id="0123456789ab", ansible_managed="managed")
    (tmp_path / "flaskstack_wsgi.py").write_text(text)
    (tmp_path / "app_flask.py").write_text(
        "import os\nSEEN = os.environ.get('GREETING')\n"
        "def app(environ, start):\n    return [SEEN.encode()]\n"
        "def create_app():\n    return app\n"
    )
    release_with_env(tmp_path, {"GREETING": "from the release"})
    code = "import flaskstack_wsgi, app_flask; print(app_flask.SEEN, callable(flaskstack_wsgi.application))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False,
                         env={"PATH": "/usr/bin:/bin", "GREETING": "from the service"})
    assert out.returncode == 0 and out.stdout.strip() == "from the release True", out
