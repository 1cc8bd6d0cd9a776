"""The collection's small modules: uwsgi_stats (against a stand-in stats server) and directories (on this machine)."""

import json
import os
import socket
import stat
import sys
import threading

from conftest import ROOT

sys.path.insert(0, str(ROOT / "plugins" / "modules"))
import uwsgi_stats  # noqa: E402

# What uWSGI 2.0 sends on its stats socket, trimmed to the fields that matter.
STATS = {
    "version": "2.0.31",
    "listen_queue": 3,
    "pid": 101,
    "workers": [
        {"id": 1, "pid": 102, "requests": 40, "exceptions": 1, "status": "idle", "respawn_count": 1},
        {"id": 2, "pid": 103, "requests": 2, "exceptions": 0, "status": "busy", "respawn_count": 1},
    ],
}


def serve_once(path, payload):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def answer():
        conn, _ = server.accept()
        conn.sendall(payload)
        conn.close()
        server.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def test_uwsgi_stats_sums_up_the_workers(tmp_path):
    path = str(tmp_path / "stats.sock")
    thread = serve_once(path, json.dumps(STATS).encode())
    summary = uwsgi_stats.summary(uwsgi_stats.read_stats(path, 5))
    thread.join(5)
    assert summary["requests"] == 42
    assert summary["listen_queue"] == 3 and summary["pid"] == 101 and summary["version"] == "2.0.31"
    assert [(w["id"], w["pid"], w["status"], w["requests"], w["exceptions"]) for w in summary["workers"]] == [
        (1, 102, "idle", 40, 1),
        (2, 103, "busy", 2, 0),
    ]


def test_uwsgi_stats_reports_a_missing_socket(run_ansible, tmp_path):
    result = run_ansible(["ansible", "localhost", "-m", "flaskstack.deploy.uwsgi_stats", "-a", f"socket={tmp_path}/none.sock"])
    assert result.returncode != 0
    assert f"Cannot read uWSGI's stats from {tmp_path}/none.sock" in result.stdout, result.stdout


def directories(run_ansible, paths, check=False):
    args = ["ansible", "localhost", "-m", "flaskstack.deploy.directories", "-a", json.dumps({"paths": paths})]
    result = run_ansible(args + (["--check"] if check else []), env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.split(" => ", 1)[1])


def test_directories_creates_corrects_and_then_changes_nothing(run_ansible, tmp_path):
    paths = [
        {"path": [str(tmp_path / "base"), str(tmp_path / "base" / "releases")], "group": "nogroup"},
        {"path": str(tmp_path / "base" / "deep" / "data"), "owner": "nobody", "group": "nogroup", "mode": "0750"},
        {"path": str(tmp_path / "base" / ".deploy"), "mode": "0700"},
    ]
    planned = directories(run_ansible, paths, check=True)
    assert planned["changed"] and not (tmp_path / "base").exists(), "check mode must not create anything"

    made = directories(run_ansible, paths)
    assert made["changed_paths"] == [str(tmp_path / name) for name in ("base", "base/releases", "base/deep/data", "base/.deploy")]
    data = os.stat(tmp_path / "base" / "deep" / "data")
    assert stat.S_IMODE(data.st_mode) == 0o750 and data.st_uid == 65534
    # A missing parent gets the attributes of the directory it was made for.
    assert stat.S_IMODE(os.stat(tmp_path / "base" / "deep").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(tmp_path / "base" / ".deploy").st_mode) == 0o700

    assert directories(run_ansible, paths)["changed"] is False

    os.chmod(tmp_path / "base" / ".deploy", 0o755)
    fixed = directories(run_ansible, paths)
    assert fixed["changed_paths"] == [str(tmp_path / "base" / ".deploy")]
    assert stat.S_IMODE(os.stat(tmp_path / "base" / ".deploy").st_mode) == 0o700


def test_directories_refuses_a_file_in_the_way(run_ansible, tmp_path):
    (tmp_path / "file").write_text("")
    args = ["ansible", "localhost", "-m", "flaskstack.deploy.directories", "-a", json.dumps({"paths": [{"path": str(tmp_path / "file")}]})]
    result = run_ansible(args)
    assert result.returncode != 0
    assert "exists and is not a directory" in result.stdout, result.stdout
