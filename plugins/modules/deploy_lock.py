#!/usr/bin/python
"""Take or give back a server's deploy lock (the module half; see plugins/action/deploy_lock.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_lock
short_description: One playbook run at a time on a server
description:
  - Takes or gives back the server's deploy lock, a directory with the holding run's description in
    C(owner.json), written in a temporary directory first and renamed into place, so a lock never exists
    without the run that holds it, even when that run loses its connection right after taking it.
  - The action plugin of the same name runs this module. It waits while another run holds the lock, takes
    over a lock whose run is gone (a run of this control machine that was killed), and fails, naming the
    holder, when the wait is over.
  - The default path is under C(/run), which is emptied at boot, so a reboot frees the lock too.
version_added: 1.0.0
author: flaskstack maintainers (@flaskstack)
options:
  state:
    description: C(present) takes the lock, C(absent) gives it back (only when this run holds it, or with O(force)).
    type: str
    choices: [present, absent]
    default: present
  path:
    description: The lock directory.
    type: path
    default: /run/flaskstack/deploy.lock
  wait:
    description: Seconds to wait for another run to give the lock back before failing.
    type: int
    default: 600
  force:
    description: Take (or remove) the lock whoever holds it. For a lock left by a run that is gone.
    type: bool
    default: false
  label:
    description: What the run is, shown to a run that finds the lock taken (e.g. C(site.yml)).
    type: str
  owner:
    description: The run taking or giving back the lock. Set by the action plugin; internal.
    type: dict
    required: true
  replace:
    description: Run id of a holder whose lock may be taken over. Set by the action plugin; internal.
    type: str
extends_documentation_fragment:
  - flaskstack.deploy.attributes
attributes:
  check_mode:
    description: Whether it runs with --check, saying what would change without changing it.
    support: full
    details: In check mode the lock is neither taken nor given back; whether another run holds it is reported.
notes:
  - Only the action plugin knows the run; the options O(owner) and O(replace) are set by it.
"""

EXAMPLES = r"""
- name: Take the deploy lock, waiting up to 10 minutes for another run
  flaskstack.deploy.deploy_lock:
    wait: 600

- name: Give the deploy lock back
  flaskstack.deploy.deploy_lock:
    state: absent
"""

RETURN = r"""
acquired:
  description: Whether this run holds the lock now.
  returned: state is present
  type: bool
holder:
  description:
    - The run that holds the lock when it is not this one (controller, pid, user, playbook, started).
    - For a lock directory without an owner file (left by an older version of this module), only C(created),
      the directory's modification time.
  returned: when another run holds the lock
  type: dict
removed:
  description: The run whose lock was removed with O(force) (its owner file; C(created) only, when it had none).
  returned: state is absent, force is true and the lock was held by another run
  type: dict
took_over:
  description: The run whose stale lock was taken over.
  returned: when a stale lock was taken over
  type: dict
"""

import errno
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

OWNER_FILE = "owner.json"


def read_owner(path):
    """The holder's description; for a lock without a readable owner file, when it was made."""
    try:
        with open(os.path.join(path, OWNER_FILE), encoding="utf-8") as handle:
            owner = json.load(handle)
        if isinstance(owner, dict):
            return owner
    except (OSError, ValueError):
        pass
    try:
        created = datetime.fromtimestamp(os.stat(path).st_mtime, timezone.utc).isoformat(timespec="seconds")
    except OSError:
        return {}
    return {"created": created}


def write_owner(path, owner):
    temp = os.path.join(path, OWNER_FILE + ".tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(owner, handle)
    os.replace(temp, os.path.join(path, OWNER_FILE))


def take(path, owner, replace=None, check_mode=False):
    """Returns (acquired, changed, holder)."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    current = read_owner(path) if os.path.isdir(path) else None
    if current is not None:
        if current.get("run") == owner["run"]:
            return True, False, None
        if replace is None or current.get("run", "") != replace:
            return False, False, current
        if not check_mode:
            write_owner(path, owner)
        return True, True, None
    if check_mode:
        return True, False, None
    # The owner file is written before the lock exists: renamed into place
    # whole, the lock always says who holds it.
    temp = tempfile.mkdtemp(prefix=os.path.basename(path) + ".new-", dir=os.path.dirname(path))
    try:
        write_owner(temp, owner)
        try:
            os.rename(temp, path)
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
                raise
            return False, False, read_owner(path)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return True, True, None


def give_back(path, owner, force=False, check_mode=False):
    """Returns (changed, the holder removed when it was another run)."""
    if not os.path.isdir(path):
        return False, None
    holder = read_owner(path)
    if not force and holder.get("run") != owner.get("run"):
        return False, None
    if not check_mode:
        shutil.rmtree(path, ignore_errors=True)
    return True, (holder if holder.get("run") != owner.get("run") else None)


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "path": {"type": "path", "default": "/run/flaskstack/deploy.lock"},
            "wait": {"type": "int", "default": 600},
            "force": {"type": "bool", "default": False},
            "label": {"type": "str"},
            "owner": {"type": "dict", "required": True},
            "replace": {"type": "str"},
        },
        supports_check_mode=True,
    )
    path, owner = module.params["path"], module.params["owner"]
    if "run" not in owner:
        module.fail_json(msg="owner.run is required (the action plugin sets it)")
    if module.params["state"] == "absent":
        changed, removed = give_back(path, owner, module.params["force"], module.check_mode)
        result = {"changed": changed}
        if removed is not None:
            result["removed"] = removed
        module.exit_json(**result)
    acquired, changed, holder = take(path, owner, module.params["replace"], module.check_mode)
    result = {"changed": changed, "acquired": acquired}
    if holder is not None:
        result["holder"] = holder
    module.exit_json(**result)


if __name__ == "__main__":
    main()
