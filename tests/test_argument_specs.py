"""Each role's meta/argument_specs.yml mirrors its defaults/main.yml key for key."""

import pytest
import yaml
from conftest import ROLES, ROOT


def load(role, path):
    return yaml.safe_load((ROOT / "roles" / role / path).read_text()) or {}


@pytest.mark.parametrize("role", ROLES)
def test_specs_and_defaults_have_the_same_keys(role):
    defaults = load(role, "defaults/main.yml")
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(options), "defaults/main.yml and meta/argument_specs.yml differ"


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_match_the_defaults_file(role):
    defaults = load(role, "defaults/main.yml")
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        if spec.get("required"):
            assert "default" not in spec, f"{name}: required options carry no default in the spec"
            continue
        assert "default" in spec, f"{name}: the spec gives no default"
        assert spec["default"] == defaults[name], f"{name}: spec default {spec['default']!r} != {defaults[name]!r}"


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_a_type_and_a_description(role):
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        assert spec.get("type"), f"{name}: no type"
        assert spec.get("description"), f"{name}: no description"
        assert name.startswith(role + "_"), f"{name}: public variables are named {role}_*"


@pytest.mark.parametrize("role", ROLES)
def test_role_readme_documents_every_variable(role):
    readme = (ROOT / "roles" / role / "README.md").read_text()
    for name in load(role, "defaults/main.yml"):
        assert f"`{name}`" in readme, f"roles/{role}/README.md does not mention {name}"
