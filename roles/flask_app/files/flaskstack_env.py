"""The environment of one release of a flaskstack.deploy app.

Each release carries its own environment file, .flaskstack-env (KEY="value"
lines, the systemd EnvironmentFile syntax), next to this module. The
release's flaskstack_wsgi.py calls apply() before it imports the app, so the
app sees the environment of the release that is live: a new environment goes
live with the switch (uWSGI's graceful reload re-executes the master, which
imports flaskstack_wsgi again) and a rollback brings the old one back. A
refused release never touches the live one's.

The keys set are remembered in FLASKSTACK_ENV_KEYS: a re-executed master
keeps its environment, so apply() removes the keys that the release it
loads no longer has. The release check (flaskstack-release check) reads the
file with read(). Standard library only.
"""

import os
import re

FILE = os.path.join(os.path.dirname(os.path.realpath(__file__)), ".flaskstack-env")
KEYS = "FLASKSTACK_ENV_KEYS"
_LINE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def read(path=FILE):
    """The file's values, with the template's escapes (\\" and \\\\) undone."""
    values = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            match = _LINE.fullmatch(line)
            if not match:
                raise ValueError(f'{path}:{number}: not a KEY="value" line')
            values[match.group(1)] = re.sub(r"\\(.)", r"\1", match.group(2))
    return values


def apply(path=FILE, environ=None):
    """Put the file's values into the environment, removing the keys an
    earlier apply() set that the file no longer has. Returns the values."""
    environ = os.environ if environ is None else environ
    values = read(path)
    for key in environ.get(KEYS, "").split(","):
        if key and key not in values:
            environ.pop(key, None)
    environ.update(values)
    environ[KEYS] = ",".join(sorted(values))
    return values
