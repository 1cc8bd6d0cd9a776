#!/usr/bin/python
"""Report, in one module call, what a role is about to manage: files, units, users, groups, packages."""

from __future__ import annotations

DOCUMENTATION = r"""
module: look
short_description: The state of files, systemd units, users, groups and packages, in one read-only call
description:
  - Reads what a role manages on the server and changes nothing, so that the role can skip each task whose
    result is in place already, instead of paying one or two round trips to the server per task to learn
    that nothing is to be done.
  - Files are reported with their type, owner, group, mode, SHA-1 checksum (regular files) and link target
    (symbolic links); the filter P(flaskstack.deploy.drifted#filter) compares such a report with what a
    task would write.
version_added: 1.0.0
author: flaskstack maintainers (@flaskstack)
options:
  files:
    description: Absolute paths to report on. Symbolic links are reported as links, not followed.
    type: list
    elements: path
    default: []
  units:
    description: systemd units (C(nginx), C(uwsgi-chatbot.service)) to report on.
    type: list
    elements: str
    default: []
  users:
    description: User names to report on.
    type: list
    elements: str
    default: []
  groups:
    description: Group names to report on.
    type: list
    elements: str
    default: []
  packages:
    description: Debian package names to report on (with C(dpkg-query)).
    type: list
    elements: str
    default: []
  sysctls:
    description: Kernel settings to report on, as C(sysctl) names (C(net.core.somaxconn)).
    type: list
    elements: str
    default: []
  linked:
    description: Executables whose shared libraries to report on (with C(ldd)); a missing one reports none.
    type: list
    elements: path
    default: []
extends_documentation_fragment:
  - flaskstack.deploy.attributes
notes:
  - It only reads; in check mode it runs as usual.
"""

EXAMPLES = r"""
- name: Look at what the nginx role manages
  flaskstack.deploy.look:
    files: [/etc/nginx/nginx.conf, /etc/nginx/sites-enabled/default]
    units: [nginx]
    packages: [nginx]
  register: _nginx_look

- name: Write nginx.conf unless it is in place already
  ansible.builtin.template:
    src: nginx.conf.j2
    dest: /etc/nginx/nginx.conf
    owner: root
    group: root
    mode: "0644"
  when: >-
    _nginx_look | flaskstack.deploy.drifted('/etc/nginx/nginx.conf',
    content=lookup('ansible.builtin.template', 'nginx.conf.j2'), owner='root', group='root', mode='0644')
"""

RETURN = r"""
files:
  description: Per path, C(exists) and, when it exists, C(type) (C(file), C(directory), C(link) or C(other)),
    C(owner), C(group), C(mode) (octal string, C("0644")), C(checksum) (SHA-1, regular files) and C(target)
    (links).
  returned: always
  type: dict
units:
  description: Per unit, C(active) (systemd's ActiveState), C(enabled) (UnitFileState, empty for a unit that
    does not exist) and C(need_reload) (its file changed since systemd loaded it). Where systemd does not run,
    C(active) and C(enabled) are empty.
  returned: always
  type: dict
users:
  description: Per existing user, C(group) (primary group's name), C(home) and C(shell). Missing users are left out.
  returned: always
  type: dict
groups:
  description: Per existing group, its gid. Missing groups are left out.
  returned: always
  type: dict
packages:
  description: Per installed package, its version. Packages not installed are left out.
  returned: always
  type: dict
sysctls:
  description: Per kernel setting, its value as a string (left out when the kernel has no such setting).
  returned: always
  type: dict
linked:
  description: Per executable, the file names of the shared libraries it is linked with.
  returned: always
  type: dict
cpus:
  description: The number of CPUs this process may run on (what C(nproc) prints).
  returned: always
  type: int
"""

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule


def name_of_uid(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def name_of_gid(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def file_state(module, path):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    state = {
        "exists": True,
        "owner": name_of_uid(info.st_uid),
        "group": name_of_gid(info.st_gid),
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
    }
    if stat.S_ISLNK(info.st_mode):
        state.update(type="link", target=os.readlink(path))
    elif stat.S_ISDIR(info.st_mode):
        state["type"] = "directory"
    elif stat.S_ISREG(info.st_mode):
        state.update(type="file", checksum=module.sha1(path))
    else:
        state["type"] = "other"
    return state


def unit_states(module, units):
    """ActiveState, UnitFileState and NeedDaemonReload of each unit; empty states where systemd cannot tell."""
    unknown = {"active": "", "enabled": "", "need_reload": False}
    if not units:
        return {}
    systemctl = module.get_bin_path("systemctl")
    rc, out = 1, ""
    if systemctl:
        # One block of properties per unit, in the order asked, blocks separated by an empty line.
        rc, out, _err = module.run_command([systemctl, "show", "--property=ActiveState,UnitFileState,NeedDaemonReload", "--", *units])
    blocks = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line) for block in out.strip().split("\n\n")]
    if rc != 0 or len(blocks) != len(units):
        # Not booted with systemd (a build container, say): the tasks that
        # start services run and meet systemd's own error there.
        return {unit: dict(unknown) for unit in units}
    return {
        unit: {
            "active": block.get("ActiveState", ""),
            "enabled": block.get("UnitFileState", ""),
            "need_reload": block.get("NeedDaemonReload") == "yes",
        }
        for unit, block in zip(units, blocks)
    }


def user_states(names):
    found = {}
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        found[name] = {"group": name_of_gid(entry.pw_gid), "home": entry.pw_dir, "shell": entry.pw_shell}
    return found


def group_states(names):
    found = {}
    for name in names:
        try:
            found[name] = grp.getgrnam(name).gr_gid
        except KeyError:
            continue
    return found


def package_states(module, names):
    if not names:
        return {}
    dpkg_query = module.get_bin_path("dpkg-query")
    if not dpkg_query:
        return {}
    # Exits 1 when a package is unknown; the lines of the known ones still come.
    _rc, out, _err = module.run_command([dpkg_query, "-W", "-f=${db:Status-Abbrev}\t${Package}\t${Version}\n", "--", *names])
    found = {}
    for line in out.splitlines():
        status, _sep, rest = line.partition("\t")
        package, _sep, version = rest.partition("\t")
        if status.strip() == "ii":
            found[package] = version
    return found


def sysctl_states(names):
    found = {}
    for name in names:
        try:
            with open("/proc/sys/" + name.replace(".", "/"), encoding="ascii") as handle:
                found[name] = handle.read().strip()
        except OSError:
            continue
    return found


def linked_libraries(module, binaries):
    found = {}
    ldd = module.get_bin_path("ldd") if binaries else None
    for binary in binaries:
        if not ldd or not os.path.isfile(binary):
            found[binary] = []
            continue
        rc, out, _err = module.run_command([ldd, binary])
        found[binary] = [line.split()[0].rsplit("/", 1)[-1] for line in out.splitlines() if line.strip()] if rc == 0 else []
    return found


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "path", "default": []},
            "units": {"type": "list", "elements": "str", "default": []},
            "users": {"type": "list", "elements": "str", "default": []},
            "groups": {"type": "list", "elements": "str", "default": []},
            "packages": {"type": "list", "elements": "str", "default": []},
            "sysctls": {"type": "list", "elements": "str", "default": []},
            "linked": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    module.exit_json(
        changed=False,
        files={path: file_state(module, path) for path in params["files"]},
        units=unit_states(module, params["units"]),
        users=user_states(params["users"]),
        groups=group_states(params["groups"]),
        packages=package_states(module, params["packages"]),
        sysctls=sysctl_states(params["sysctls"]),
        linked=linked_libraries(module, params["linked"]),
        cpus=len(os.sched_getaffinity(0)),
    )


if __name__ == "__main__":
    main()
