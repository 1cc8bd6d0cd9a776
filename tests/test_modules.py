"""The uwsgi_stats_info module, against a stand-in stats server."""

import json
import socket
import sys
import threading

from conftest import ROOT

sys.path.insert(0, str(ROOT / "plugins" / "modules"))
import uwsgi_stats_info  # noqa: E402

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


def test_uwsgi_stats_info_sums_up_the_workers(tmp_path):
    path = str(tmp_path / "stats.sock")
    thread = serve_once(path, json.dumps(STATS).encode())
    summary = uwsgi_stats_info.summary(uwsgi_stats_info.read_stats(path, 5))
    thread.join(5)
    assert summary["requests"] == 42
    assert summary["listen_queue"] == 3 and summary["pid"] == 101 and summary["version"] == "2.0.31"
    assert [(w["id"], w["pid"], w["status"], w["requests"], w["exceptions"]) for w in summary["workers"]] == [
        (1, 102, "idle", 40, 1),
        (2, 103, "busy", 2, 0),
    ]


def test_uwsgi_stats_info_reports_a_missing_socket(run_ansible, tmp_path):
    result = run_ansible(["ansible", "localhost", "-m", "flaskstack.deploy.uwsgi_stats_info", "-a", f"socket={tmp_path}/none.sock"])
    assert result.returncode != 0
    assert f"Cannot read uWSGI's stats from {tmp_path}/none.sock" in result.stdout, result.stdout
