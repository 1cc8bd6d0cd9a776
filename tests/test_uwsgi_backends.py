"""The uwsgi_backends filter that builds nginx's upstream from the appservers group."""

import importlib.util

import pytest
from ansible.errors import AnsibleFilterError
from conftest import ROOT

spec = importlib.util.spec_from_file_location("stack_filters", ROOT / "plugins" / "filter" / "stack.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
backends = module.uwsgi_backends
addresses = module.private_addresses
members = module.cluster_members


def test_a_single_server_keeps_uwsgi_on_loopback():
    assert backends(["web1"], {"web1": {"flaskstack_private_address": "10.0.0.2"}}, ["web1"], 8000) == [{"server": "127.0.0.1:8000"}]


def test_separate_app_servers_are_reached_on_their_private_address():
    hostvars = {
        "app1": {"flaskstack_private_address": "10.0.0.5", "flaskstack_upstream_options": {"weight": 2}},
        "app2": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.6"}}},
        "app3": {"flaskstack_private_address": "fd00::7"},
    }
    assert backends(["app1", "app2", "app3"], hostvars, ["web1"], 8000) == [
        {"weight": 2, "server": "10.0.0.5:8000"},
        {"server": "10.0.0.6:8000"},
        {"server": "[fd00::7]:8000"},
    ]


def test_an_app_server_among_several_web_servers_is_reached_over_the_network():
    hostvars = {"web1": {"flaskstack_private_address": "10.0.0.2"}}
    assert backends(["web1"], hostvars, ["web1", "web2"], 8001) == [{"server": "10.0.0.2:8001"}]


def test_an_unknown_address_names_the_variable():
    with pytest.raises(AnsibleFilterError, match="flaskstack_private_address"):
        backends(["app1"], {"app1": {}}, ["web1"], 8000)


def test_private_addresses_of_the_web_servers():
    hostvars = {"web1": {"flaskstack_private_address": "10.0.0.2"}, "web2": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.3"}}}}
    assert addresses(["web1", "web2"], hostvars) == ["10.0.0.2", "10.0.0.3"]


def test_cluster_members_keep_deployments_apart():
    hostvars = {"a": {"flaskstack_cluster": "deb12"}, "b": {"flaskstack_cluster": "deb13"}, "c": {}}
    assert members(["a", "b", "c"], hostvars, "deb12") == ["a"]
    assert members(["a", "b", "c"], hostvars, "default") == ["c"]
