"""Filters that read a flaskstack.deploy.look report: is a file, or a set of directories, not as a task would leave it?

Documented in drifted.yml and directories_drifted.yml next to this file.
"""

import hashlib


def drifted(look, path, content=None, owner=None, group=None, mode=None, state="file", src=None, checksum=None):
    """True when PATH, as LOOK reported it, differs from what a task would make of it.

    STATE file: a regular file with CONTENT, or with the SHA-1 CHECKSUM (when
    given); directory; link to SRC; absent. OWNER, GROUP and MODE are compared
    when given. A path LOOK did not report counts as drifted, so the task runs.
    """
    found = (look.get("files") or {}).get(path)
    if found is None:
        return True
    if state == "absent":
        return found["exists"]
    if not found["exists"] or found["type"] != state:
        return True
    if state == "link":
        return found["target"] != src
    if content is not None:
        checksum = hashlib.sha1(str(content).encode("utf-8")).hexdigest()
    if checksum is not None and found["checksum"] != checksum:
        return True
    if mode is not None and found["mode"] != f"{int(str(mode), 8):04o}":
        return True
    return any(wanted is not None and str(wanted) != found[key] for key, wanted in (("owner", owner), ("group", group)))


def directories_drifted(groups, look):
    """True when a directory of GROUPS (the paths option of flaskstack.deploy.directories) is not as it would leave it."""
    for entry in groups:
        paths = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
        for path in paths:
            wanted = {key: entry.get(key) or default for key, default in (("owner", "root"), ("group", "root"), ("mode", "0755"))}
            if drifted(look, path, state="directory", **wanted):
                return True
    return False


class FilterModule:
    def filters(self):
        return {"drifted": drifted, "directories_drifted": directories_drifted}
