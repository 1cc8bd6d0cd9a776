"""aar-doc with tools/aar-doc/role.md.j2 renders each role's variables and entry
points as tools/docs.py did, so a README can move to aar-doc's markers with no
change to what it says."""

import sys

import pytest
import yaml

from conftest import ROLES, ROOT

sys.path.insert(0, str(ROOT / "tools"))
import docs  # noqa: E402  pylint: disable=wrong-import-position


@pytest.mark.parametrize("role", ROLES)
def test_aar_doc_renders_what_docs_py_did(role):
    if not (ROOT / ".cache/aar-doc/bin/aar-doc").exists():
        pytest.skip("aar-doc is not installed: make test-fast (or make docs) installs it in .cache/aar-doc")
    role_dir = ROOT / "roles" / role
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    expected = docs.options_table(specs["main"]["options"]) + "\nEntry points:\n\n" + docs.entry_points_list(specs)
    block = docs.aar_doc(role_dir)
    assert block == docs.AAR_BEGIN + expected + docs.AAR_END
