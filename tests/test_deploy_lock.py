"""The deploy lock (plugins/modules + plugins/action deploy_lock), on the control machine."""

import json
import os
import socket

import pytest


def run_lock(run_ansible, path, **extra):
    report_path = path.parent.parent / "report.json"
    extra = dict(lock_path=str(path), report_path=str(report_path), **extra)
    result = run_ansible(["ansible-playbook", "tests/playbooks/lock.yml", "-e", json.dumps(extra)], timeout=120)
    out = result.stdout + result.stderr
    report = json.loads(report_path.read_text()) if result.returncode == 0 else None
    return result, out, report


def process_start(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[19])


def hold(path, **owner):
    path.mkdir(parents=True)
    (path / "owner.json").write_text(json.dumps(owner))


@pytest.fixture()
def lock(tmp_path):
    return tmp_path / "run" / "deploy.lock"


def test_a_free_lock_is_taken_once(run_ansible, lock):
    result, out, report = run_lock(run_ansible, lock)
    assert result.returncode == 0, out
    assert report["first"]["acquired"] and report["first"]["changed"], report
    assert report["again"]["acquired"] and not report["again"]["changed"], report
    owner = json.loads((lock / "owner.json").read_text())
    assert owner["controller"] == socket.gethostname() and owner["playbook"] == "lock-test"
    assert oct(lock.stat().st_mode & 0o777) == "0o700"
    # Written aside and renamed into place: nothing else is left beside it.
    assert sorted(p.name for p in lock.parent.iterdir()) == ["deploy.lock"]
    # The run is the ansible-playbook process, which is gone now.
    assert process_start_or_none(owner["pid"]) != owner["pid_start"]


def process_start_or_none(pid):
    try:
        return process_start(pid)
    except OSError:
        return None


def test_a_lock_held_by_a_live_run_is_refused_after_the_wait(run_ansible, lock):
    # pid 1 of this machine, with its real start time: a run still going.
    hold(lock, run="x:1", controller=socket.gethostname(), pid=1, pid_start=process_start(1), user="ops", playbook="site.yml", started="T0")
    before = (lock / "owner.json").read_text()
    result, out, _ = run_lock(run_ansible, lock, lock_wait=2)
    assert result.returncode != 0, out
    assert "Another run holds the deploy lock" in out and "site.yml run by ops@" in out and "Waited 2 s" in out, out
    assert (lock / "owner.json").read_text() == before


def test_a_lock_held_from_another_machine_is_refused(run_ansible, lock):
    hold(lock, run="elsewhere:42:7", controller="elsewhere", pid=42, pid_start=7, user="ci", playbook="deploy.yml", started="T0")
    result, out, _ = run_lock(run_ansible, lock, lock_wait=1)
    assert result.returncode != 0, out
    assert "deploy.yml run by ci@elsewhere (pid 42) since T0" in out, out
    # The one command that clears it, for this server only.
    assert "ansible-playbook flaskstack.deploy.unlock -i " in out and "--limit localhost -e flaskstack_lock_break=true" in out, out


def test_a_lock_without_an_owner_file_is_explained(run_ansible, lock):
    # Left by an older version, which made the directory before writing its owner.
    lock.mkdir(parents=True)
    result, out, _ = run_lock(run_ansible, lock, lock_wait=1)
    assert result.returncode != 0, out
    assert "an unknown run (the lock has no owner file; made 20" in out, out
    assert "--limit localhost -e flaskstack_lock_break=true" in out, out
    assert lock.is_dir()


def test_a_lock_left_by_a_killed_run_of_this_machine_is_taken_over(run_ansible, lock):
    hold(lock, run="gone", controller=socket.gethostname(), pid=os.getpid(), pid_start=1, user="ops", playbook="site.yml", started="T0")
    result, out, report = run_lock(run_ansible, lock)
    assert result.returncode == 0, out
    assert report["first"]["acquired"] and report["first"]["took_over"]["run"] == "gone", report
    assert "taking over the deploy lock" in out and "that run is gone" in out, out
    assert json.loads((lock / "owner.json").read_text())["playbook"] == "lock-test"


def test_force_takes_a_lock_whoever_holds_it(run_ansible, lock):
    hold(lock, run="elsewhere:42:7", controller="elsewhere", pid=42, pid_start=7)
    result, out, report = run_lock(run_ansible, lock, lock_force=True)
    assert result.returncode == 0, out
    assert report["first"]["took_over"]["controller"] == "elsewhere", report


def test_only_the_holder_gives_the_lock_back_unless_forced(run_ansible, lock):
    hold(lock, run="elsewhere:42:7", controller="elsewhere", pid=42, pid_start=7)
    result, out, report = run_lock(run_ansible, lock, lock_state="absent")
    assert result.returncode == 0 and not report["first"]["changed"], out
    assert lock.is_dir()
    result, out, report = run_lock(run_ansible, lock, lock_state="absent", lock_force=True)
    assert result.returncode == 0 and report["first"]["changed"], out
    assert report["first"]["removed"]["controller"] == "elsewhere", report
    assert "removed the deploy lock of" in out, out
    assert not lock.exists()
