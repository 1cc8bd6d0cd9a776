#!/usr/bin/python
"""Make sure a list of directories exists with the given owner, group and mode, in one module call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: directories
short_description: Several directories with their owner, group and mode, in one call
description:
  - Creates each directory that is missing (parents first, like C(mkdir -p); parents created here get the
    same owner, group and mode) and corrects the owner, group and mode of those that exist.
  - The same as one M(ansible.builtin.file) task with C(state=directory) per directory, in one round trip to
    the server instead of one per directory. It never removes anything.
version_added: 1.0.0
author: flaskstack maintainers (@flaskstack)
options:
  paths:
    description: The directories, in groups that share an owner, group and mode.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of a directory, or a list of them.
        type: raw
        required: true
      owner:
        description: Owner (name or uid).
        type: str
        default: root
      group:
        description: Group (name or gid).
        type: str
        default: root
      mode:
        description: Permissions, octal as a string (C("0755")).
        type: str
        default: "0755"
extends_documentation_fragment:
  - flaskstack.deploy.attributes
notes:
  - A path that exists and is not a directory is an error; nothing is changed for it.
"""

EXAMPLES = r"""
- name: The app's directories
  flaskstack.deploy.directories:
    paths:
      - {path: [/srv/chatbot, /srv/chatbot/releases], group: chatbot}
      - {path: /srv/chatbot/shared/data, owner: chatbot, group: chatbot, mode: "0750"}
"""

RETURN = r"""
changed_paths:
  description: The directories created or corrected.
  returned: always
  type: list
  elements: str
"""

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule


def uid_of(owner):
    return int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid


def gid_of(group):
    return int(group) if group.isdigit() else grp.getgrnam(group).gr_gid


def ensure(entry, check_mode):
    """Create or correct one directory; True when something changed (or would)."""
    path = entry["path"]
    uid, gid, mode = uid_of(entry["owner"]), gid_of(entry["group"]), int(entry["mode"], 8)
    missing = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    if not missing:
        info = os.stat(path)
        if not stat.S_ISDIR(info.st_mode):
            raise ValueError(f"{path} exists and is not a directory")
        if (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (uid, gid, mode):
            return False
    if check_mode:
        return True
    for new in reversed(missing):
        os.mkdir(new, mode)
    for fix in missing or [path]:
        os.chown(fix, uid, gid)
        os.chmod(fix, mode)
    return True


def main():
    module = AnsibleModule(
        argument_spec={
            "paths": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "raw", "required": True},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "mode": {"type": "str", "default": "0755"},
                },
            }
        },
        supports_check_mode=True,
    )
    changed = []
    for group in module.params["paths"]:
        paths = group["path"] if isinstance(group["path"], list) else [group["path"]]
        for path in paths:
            if not isinstance(path, str) or not os.path.isabs(path):
                module.fail_json(msg=f"Not an absolute path: {path}", changed_paths=changed)
            entry = dict(group, path=os.path.normpath(path))
            try:
                if ensure(entry, module.check_mode):
                    changed.append(entry["path"])
            except (KeyError, ValueError, OSError) as error:
                module.fail_json(msg=f"Cannot make the directory {path}: {error}", changed_paths=changed)
    module.exit_json(changed=bool(changed), changed_paths=changed)


if __name__ == "__main__":
    main()
