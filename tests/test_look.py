"""The look module (on this machine), the drifted and directories_drifted filters and the sha1 lookup.

A role skips a task when the look says its result is in place, so these check
both directions: what is in place is reported as such, and every kind of
difference a task would correct (content, owner, group, mode, link target, a
file that must go, a missing report) counts as drifted.
"""

import grp
import hashlib
import importlib.util
import json
import os
import pwd
import subprocess

from conftest import ROOT

spec = importlib.util.spec_from_file_location("look_filters", ROOT / "plugins" / "filter" / "look.py")
filters = importlib.util.module_from_spec(spec)
spec.loader.exec_module(filters)


def look(run_ansible, args, check=False):
    command = ["ansible", "localhost", "-m", "flaskstack.deploy.look", "-a", json.dumps(args)]
    result = run_ansible(command + (["--check"] if check else []), env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.split(" => ", 1)[1])


def test_look_reports_files_users_groups_packages_and_kernel(run_ansible, tmp_path):
    config = tmp_path / "app.conf"
    config.write_text("listen 80;\n")
    config.chmod(0o640)
    (tmp_path / "link").symlink_to("app.conf")
    (tmp_path / "dir").mkdir(mode=0o750)
    (tmp_path / "dir").chmod(0o750)
    me = pwd.getpwuid(os.getuid())
    paths = [str(tmp_path / name) for name in ("app.conf", "link", "dir", "missing")]
    found = look(
        run_ansible,
        {
            "files": paths,
            "users": [me.pw_name, "no-such-user-x"],
            "groups": [grp.getgrgid(os.getgid()).gr_name, "no-such-group-x"],
            "packages": ["bash", "no-such-package-x"],
            "sysctls": ["net.core.somaxconn", "no.such.setting"],
            "linked": ["/bin/ls", str(tmp_path / "missing")],
        },
        check=True,
    )
    assert found["changed"] is False
    owner, group = me.pw_name, grp.getgrgid(os.getgid()).gr_name
    assert found["files"][paths[0]] == {
        "exists": True, "type": "file", "owner": owner, "group": group, "mode": "0640",
        "checksum": hashlib.sha1(b"listen 80;\n").hexdigest(),
    }
    assert found["files"][paths[1]]["type"] == "link" and found["files"][paths[1]]["target"] == "app.conf"
    assert found["files"][paths[2]] == {"exists": True, "type": "directory", "owner": owner, "group": group, "mode": "0750"}
    assert found["files"][paths[3]] == {"exists": False}
    assert found["users"] == {owner: {"group": grp.getgrgid(me.pw_gid).gr_name, "home": me.pw_dir, "shell": me.pw_shell}}
    assert list(found["groups"]) == [group]
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "bash"], capture_output=True, text=True, check=True).stdout
    assert found["packages"] == {"bash": version}
    assert found["sysctls"] == {"net.core.somaxconn": open("/proc/sys/net/core/somaxconn").read().strip()}
    assert any(lib.startswith("libc.so") for lib in found["linked"]["/bin/ls"]) and found["linked"][str(tmp_path / "missing")] == []
    assert found["cpus"] == int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)


def test_look_without_systemd_reports_units_as_unknown(run_ansible):
    # This machine is not booted with systemd: the tasks that start services
    # must then run (and meet systemd's own error), not be skipped.
    found = look(run_ansible, {"units": ["nginx", "uwsgi-chatbot.service"]})
    assert found["units"] == {name: {"active": "", "enabled": "", "need_reload": False} for name in ("nginx", "uwsgi-chatbot.service")}


FILE = {"exists": True, "type": "file", "owner": "root", "group": "app", "mode": "0640", "checksum": hashlib.sha1(b"x = 1\n").hexdigest()}
REPORT = {
    "files": {
        "/etc/app.ini": FILE,
        "/etc/link": {"exists": True, "type": "link", "owner": "root", "group": "root", "mode": "0777", "target": "../app.ini"},
        "/srv/app": {"exists": True, "type": "directory", "owner": "root", "group": "app", "mode": "0755"},
        "/srv/app/data": {"exists": True, "type": "directory", "owner": "app", "group": "app", "mode": "0750"},
        "/gone": {"exists": False},
    }
}


def test_drifted_is_false_only_when_everything_matches():
    drifted = filters.drifted
    assert not drifted(REPORT, "/etc/app.ini", content="x = 1\n", owner="root", group="app", mode="0640")
    assert not drifted(REPORT, "/etc/app.ini", checksum=FILE["checksum"], mode="640")
    assert drifted(REPORT, "/etc/app.ini", content="x = 2\n", owner="root", group="app", mode="0640")
    assert drifted(REPORT, "/etc/app.ini", content="x = 1\n", owner="app", group="app", mode="0640")
    assert drifted(REPORT, "/etc/app.ini", content="x = 1\n", owner="root", group="root", mode="0640")
    assert drifted(REPORT, "/etc/app.ini", content="x = 1\n", owner="root", group="app", mode="0644")
    assert drifted(REPORT, "/etc/app.ini", state="directory")
    assert not drifted(REPORT, "/etc/link", state="link", src="../app.ini")
    assert drifted(REPORT, "/etc/link", state="link", src="../other.ini")
    assert drifted(REPORT, "/etc/app.ini", state="link", src="../app.ini")
    assert not drifted(REPORT, "/gone", state="absent") and drifted(REPORT, "/etc/app.ini", state="absent")
    assert drifted(REPORT, "/gone", content="x = 1\n")
    # Not looked at: the task must run.
    assert drifted(REPORT, "/etc/other.ini", content="x = 1\n") and drifted({}, "/etc/app.ini")


def test_directories_drifted_uses_the_directories_module_defaults():
    groups = [{"path": ["/srv/app"], "group": "app"}, {"path": "/srv/app/data", "owner": "app", "group": "app", "mode": "0750"}]
    assert not filters.directories_drifted(groups, REPORT)
    assert filters.directories_drifted([{"path": "/srv/app"}], REPORT), "group root by default, app on the server"
    assert filters.directories_drifted(groups + [{"path": ["/srv/app/new"]}], REPORT)
    assert not filters.directories_drifted([{"path": []}], REPORT)


def test_sha1_lookup_checksums_local_files(run_ansible, tmp_path):
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    result = run_ansible(["ansible", "localhost", "-m", "ansible.builtin.debug", "-a", f"msg={{{{ lookup('flaskstack.deploy.sha1', '{model}') }}}}"])
    assert hashlib.sha1(model.read_bytes()).hexdigest() in result.stdout, result.stdout
    missing = run_ansible(["ansible", "localhost", "-m", "ansible.builtin.debug", "-a", f"msg={{{{ lookup('flaskstack.deploy.sha1', '{tmp_path}/none') }}}}"])
    assert missing.returncode != 0 and "no file" in missing.stdout + missing.stderr
