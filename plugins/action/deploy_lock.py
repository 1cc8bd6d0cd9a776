"""The controller half of flaskstack.deploy.deploy_lock (documented in plugins/modules/deploy_lock.py).

A run is named by this control machine's host name and the process id and
start time of ansible-playbook, so every task of one run presents the same
owner, and a lock whose run was killed can be told from one still going when
both runs start on the same control machine.
"""

from __future__ import annotations

import getpass
import multiprocessing
import os
import socket
import time
from datetime import datetime, timezone

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

MODULE = "flaskstack.deploy.deploy_lock"
RETRY_SECONDS = 3


def process_start(pid):
    """Start time of a local process in clock ticks since boot, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            # The command name (field 2) may hold spaces; the fields after it do not.
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def this_run(playbook):
    parent = multiprocessing.parent_process()
    pid = parent.pid if parent is not None else os.getpid()
    host = socket.gethostname()
    start = process_start(pid)
    return {
        "run": f"{host}:{pid}:{start}",
        "controller": host,
        "pid": pid,
        "pid_start": start,
        "user": getpass.getuser(),
        "playbook": playbook,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def holder_is_gone(holder):
    """True only for a run of this control machine whose process has ended."""
    if not holder or holder.get("controller") != socket.gethostname():
        return False
    pid = holder.get("pid")
    return isinstance(pid, int) and process_start(pid) != holder.get("pid_start")


def describe(holder):
    if not holder or "run" not in holder:
        created = holder.get("created", "at an unknown time") if holder else "at an unknown time"
        return "an unknown run (the lock has no owner file; made {created})".format(created=created)
    return "{playbook} run by {user}@{controller} (pid {pid}) since {started}".format(
        **{key: holder.get(key, "?") for key in ("playbook", "user", "controller", "pid", "started")}
    )


def break_command(task_vars):
    """The one command that gives this server's lock back, whoever holds it."""
    sources = [str(source) for source in task_vars.get("ansible_inventory_sources") or []]
    inventory = "".join(f" -i {source}" for source in sources) or " -i INVENTORY"
    host = task_vars.get("inventory_hostname", "HOST")
    return f"ansible-playbook flaskstack.deploy.unlock{inventory} --limit {host} -e flaskstack_lock_break=true"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("state", "path", "wait", "force", "label"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        state = args.get("state", "present")
        wait = int(args.get("wait", 600))
        force = bool(self._templar.template(args.get("force", False)))
        playbook = str(args.get("label") or task_vars.get("ansible_play_name") or "a playbook")
        owner = this_run(playbook)
        module_args = {key: args[key] for key in ("state", "path", "label") if key in args}
        module_args.update(owner=owner, force=force, wait=wait)

        if state == "absent":
            result.update(self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars))
            if result.get("removed") is not None:
                display.warning(f"{task_vars.get('inventory_hostname')}: removed the deploy lock of {describe(result['removed'])}.")
            return result

        deadline = time.monotonic() + max(wait, 0)
        waited_for = None
        while True:
            answer = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
            if answer.get("failed"):
                result.update(answer)
                return result
            if answer.get("acquired"):
                result.update(answer)
                if waited_for is not None:
                    result["waited_for"] = waited_for
                return result
            holder = answer.get("holder") or {}
            if force or holder_is_gone(holder):
                if not force:
                    display.warning(f"{task_vars.get('inventory_hostname')}: taking over the deploy lock of {describe(holder)}: that run is gone.")
                module_args["replace"] = holder.get("run", "")
                answer = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
                if answer.get("acquired"):
                    result.update(answer, took_over=holder)
                    return result
                module_args.pop("replace")
                continue
            if time.monotonic() >= deadline:
                raise AnsibleActionFail(
                    f"Another run holds the deploy lock of {task_vars.get('inventory_hostname')}: {describe(holder)}. "
                    f"Waited {wait} s (flaskstack_lock_wait); nothing was changed by this run. If that run is not going "
                    f"on any more (it was killed or lost its connection, on another control machine), give the lock "
                    f"back with: {break_command(task_vars)}"
                )
            if waited_for is None:
                display.display(
                    f"{task_vars.get('inventory_hostname')}: waiting up to {wait} s for the deploy lock, held by "
                    f"{describe(holder)}. If that run is gone: {break_command(task_vars)}"
                )
                waited_for = holder
            time.sleep(RETRY_SECONDS)
