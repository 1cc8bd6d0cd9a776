"""Render a role's templates the way Ansible would, without a host.

Variables come from the role's defaults, vars/main.yml and a distribution vars
file, plus overrides; string values that are templates are resolved against
the others until nothing changes.
"""

import hashlib
import re

import jinja2
import yaml
from conftest import ROOT


def _regex_replace(value, pattern, replacement=""):
    return re.sub(pattern, replacement, value)


def _bool(value):
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


def _combine(*dicts):
    out = {}
    for item in dicts:
        out.update(item)
    return out


def _version_tuple(text):
    return tuple(int(part) for part in re.findall(r"[0-9]+", str(text)))


def _version(value, other, operator=">="):
    a, b = _version_tuple(value), _version_tuple(other)
    return {">=": a >= b, ">": a > b, "<": a < b, "<=": a <= b, "==": a == b}[operator]


def environment(role):
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROOT / "roles" / role / "templates")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["regex_replace"] = _regex_replace
    env.filters["bool"] = _bool
    env.filters["combine"] = _combine
    env.filters["hash"] = lambda value, algorithm="sha1": hashlib.new(algorithm, str(value).encode()).hexdigest()
    env.tests["match"] = lambda value, pattern: re.match(pattern, str(value)) is not None
    env.tests["search"] = lambda value, pattern: re.search(pattern, str(value)) is not None
    env.tests["version"] = _version
    return env


def role_vars(role, distro_file="Debian.yml", **overrides):
    data = {"ansible_managed": "Managed by Ansible (test render)", "inventory_hostname": "web1.example.test"}
    for rel in ("defaults/main.yml", "vars/main.yml", f"vars/{distro_file}"):
        path = ROOT / "roles" / role / rel
        if path.exists():
            data.update(yaml.safe_load(path.read_text()) or {})
    data.update(overrides)
    env = environment(role)

    def resolve(value):
        if isinstance(value, str) and "{{" in value:
            return env.from_string(value).render(**data)
        if isinstance(value, dict):
            return {key: resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [resolve(item) for item in value]
        return value

    for _ in range(5):
        for key, value in list(data.items()):
            if key not in overrides:
                data[key] = resolve(value)
    return data


def render(role, template, **overrides):
    data = role_vars(role, **overrides)
    return environment(role).get_template(template).render(**data), data
