#!/usr/bin/env python3
"""Regenerate the variable tables of the docs from the argument specs.

Sources and the parts they generate (between "<!-- generated: NAME -->" and
"<!-- end generated -->" markers; the rest of each file is written by hand):
  roles/<role>/meta/argument_specs.yml -> roles/<role>/README.md, between
      "<!-- BEGIN_ANSIBLE_DOCS -->" and "<!-- END_ANSIBLE_DOCS -->": the
      variables of the main entry point and the entry points, rendered by
      aar-doc (a maintained tool, on PyPI) with tools/aar-doc/role.md.j2
  roles/<role>/tasks/*.yml              -> roles/<role>/README.md "tags"
  examples/roles/<role>.yml             -> roles/<role>/README.md "example"
  roles/flaskstack/meta/argument_specs.yml    -> docs/settings.md "settings" (the site settings)

    python tools/docs.py          # rewrite what is stale
    python tools/docs.py --check  # exit 1 naming each stale file (the tests run this)

aar-doc comes from AAR_DOC (make docs and make test-fast set it to
.cache/aar-doc/bin/aar-doc, a venv of its own: aar-doc needs typer<0.28).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MARK = re.compile(r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
AAR_BEGIN, AAR_END = "<!-- BEGIN_ANSIBLE_DOCS -->\n", "<!-- END_ANSIBLE_DOCS -->\n"
AAR_MARK = re.compile(re.escape(AAR_BEGIN) + ".*?" + re.escape(AAR_END), re.S)
AAR_TEMPLATE = ROOT / "tools" / "aar-doc" / "role.md.j2"


def aar_doc(role_dir):
    """The role's variables and entry points as aar-doc renders them (markers included)."""
    tool = os.environ.get("AAR_DOC") or shutil.which("aar-doc")
    if not tool and (ROOT / ".cache/aar-doc/bin/aar-doc").exists():
        tool = str(ROOT / ".cache/aar-doc/bin/aar-doc")
    if not tool:
        sys.exit(f"{role_dir.relative_to(ROOT)}/README.md has aar-doc's markers, but aar-doc is missing: run `make docs` (or set AAR_DOC)")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / role_dir.name
        shutil.copytree(role_dir / "meta", copy / "meta")
        (copy / "README.md").write_text(AAR_BEGIN + AAR_END)
        result = subprocess.run([tool, "--output-template", str(AAR_TEMPLATE), str(copy), "markdown"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.exit(f"aar-doc failed on {role_dir.relative_to(ROOT)}:\n{result.stdout}{result.stderr}")
        return (copy / "README.md").read_text()


def inline(value):
    """A default as short YAML, the way a user would write it."""
    if value == "":
        return "''"
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    return text[:-4].strip() if text.endswith("\n...") else text


def cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def type_of(spec):
    kind = spec.get("type", "str")
    if kind == "list" and "elements" in spec:
        kind = f"list of {spec['elements']}"
    if "choices" in spec:
        kind += " (" + ", ".join(str(c) for c in spec["choices"]) + ")"
    if spec.get("no_log"):
        kind += " (no_log)"
    return kind


def description(spec):
    text = spec.get("description", "")
    text = " ".join(text) if isinstance(text, list) else text
    if spec.get("options"):
        keys = ", ".join(f"`{k}` ({type_of(s)}{', required' if s.get('required') else ''})" for k, s in spec["options"].items())
        text += f" Keys: {keys}."
    return cell(text)


def options_table(options):
    lines = ["| variable | type | default | description |", "|---|---|---|---|"]
    for name, spec in options.items():
        if spec.get("required"):
            default = "(required)"
        elif "default" in spec:
            default = f"`{inline(spec['default'])}`"
        else:
            default = "(none)"
        if not missing_description(spec):
            lines.append(f"| `{name}` | {cell(type_of(spec))} | {cell(default)} | {description(spec)} |")
    return "\n".join(lines) + "\n"


def missing_description(spec):
    return not spec.get("description")


def role_tags(role_dir):
    """Tags used in a role's task files, with the task files that carry them."""
    found = {}
    files = sorted((role_dir / "tasks").glob("*.yml"), key=lambda path: (path.name != "main.yml", path.name))
    for path in files:
        for item in yaml.safe_load(path.read_text()) or []:
            tags = item.get("tags", [])
            for tag in [tags] if isinstance(tags, str) else tags:
                if tag == "always":
                    continue
                what = item.get("name", "")
                found.setdefault(tag, []).append(what)
    return found


def tags_list(role, role_dir):
    tags = role_tags(role_dir)
    lines = []
    for tag, names in tags.items():
        lines.append(f"- `{tag}`: " + "; ".join(cell(n) for n in names))
    lines.append("")
    lines.append(
        f"`{role}_validate` also carries `always`: the role's checks (and its argument spec, which Ansible "
        "checks itself) run with any `--tags`, so a partial run is checked like a whole one."
    )
    return "\n".join(lines) + "\n"


def problems():
    """Every spec problem the docs would hide: options without a description."""
    out = []
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"]["options"]
        out += [f"{spec_file.relative_to(ROOT)}: {name} has no description" for name, s in options.items() if missing_description(s)]
    return out


def generated():
    """{path: {marker name: body}} for every generated part."""
    parts = {}
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        role_dir = spec_file.parents[1]
        parts[role_dir / "README.md"] = {
            "tags": tags_list(role_dir.name, role_dir),
            "example": "```yaml\n" + (ROOT / "examples" / "roles" / f"{role_dir.name}.yml").read_text() + "```\n",
        }
        parts[role_dir / "README.md"]["aar-doc"] = aar_doc(role_dir)
    settings = yaml.safe_load((ROOT / "roles/flaskstack/meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    wiring = yaml.safe_load((ROOT / "playbooks/vars/stack.yml").read_text())
    parts[ROOT / "docs/settings.md"] = {
        "settings": options_table(settings),
        "derived": derived_table(wiring["_stack_derived_from"], "derived from"),
        "derived-unless-set": derived_table(wiring["_stack_derived_unless_set"], "derived default"),
    }
    return parts


def derived_table(sources, heading):
    """playbooks/vars/stack.yml's list of derived role variables as a table, variable names in code."""
    lines = [f"| role variable | {heading} |", "|---|---|"]
    for name, source in sources.items():
        source = re.sub(r"\b((?:flaskstack|flask_app|uwsgi|nginx|firewall|python_venv|redis)_[a-z_]+)\b(?!\.py)", r"`\1`", str(source))
        lines.append(f"| `{name}` | {source} |")
    return "\n".join(lines) + "\n"


def render(path, bodies):
    text = path.read_text()
    bodies = dict(bodies)
    new = text
    block = bodies.pop("aar-doc", None)
    if block is not None:
        if AAR_MARK.search(text) is None:
            sys.exit(f"{path.relative_to(ROOT)}: {AAR_BEGIN.strip()} without {AAR_END.strip()} on a line of its own")
        new = AAR_MARK.sub(lambda match: block, text, count=1)
    seen = set()

    def replace(match):
        name = match.group("name")
        if name not in bodies:
            sys.exit(f"{path.relative_to(ROOT)}: unknown generated part {name!r}")
        seen.add(name)
        return match.group(1) + bodies[name] + match.group(4)

    new = MARK.sub(replace, new)
    missing = set(bodies) - seen
    if missing:
        sys.exit(f"{path.relative_to(ROOT)}: no '<!-- generated: NAME -->' marker for {', '.join(sorted(missing))}")
    return text, new


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1)")
    args = parser.parse_args()
    bad = problems()
    stale = []
    for path, bodies in generated().items():
        old, new = render(path, bodies)
        if old != new:
            stale.append(str(path.relative_to(ROOT)))
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        bad.append("stale (run `python tools/docs.py`): " + ", ".join(stale))
    elif stale:
        print("rewrote: " + ", ".join(stale))
    if bad:
        sys.exit("\n".join(bad))


if __name__ == "__main__":
    main()
