"""Filters that lay out app and web servers for the collection's playbooks.

Documented in uwsgi_backends.yml, private_addresses.yml and cluster_members.yml next to this file.
"""

from ansible.errors import AnsibleFilterError


def _private_address(name, host_vars, unknown=None):
    address = host_vars.get("flaskstack_private_address")
    if not address:
        facts = host_vars.get("ansible_facts") or {}
        address = (facts.get("default_ipv4") or {}).get("address") or unknown
    if not address:
        raise AnsibleFilterError(
            f"{name}: set flaskstack_private_address (the address the other servers reach it at), "
            "or gather its facts in this run so its default IPv4 address can be used"
        )
    return str(address)


def uwsgi_backends(app_hosts, hostvars, web_hosts, port, unknown=None):
    backends = []
    for name in app_hosts:
        host_vars = hostvars[name]
        if list(web_hosts) == [name]:
            address = "127.0.0.1"
        else:
            address = _private_address(name, host_vars, unknown)
            address = f"[{address}]" if ":" in address else address
        entry = dict(host_vars.get("flaskstack_upstream_options") or {})
        entry["server"] = f"{address}:{int(port)}"
        backends.append(entry)
    return backends


def private_addresses(hosts, hostvars, unknown=None):
    return [_private_address(name, hostvars[name], unknown) for name in hosts]


def cluster_members(hosts, hostvars, cluster):
    return [name for name in hosts if str(hostvars[name].get("flaskstack_cluster") or "default") == str(cluster)]


class FilterModule:
    def filters(self):
        return {"uwsgi_backends": uwsgi_backends, "private_addresses": private_addresses, "cluster_members": cluster_members}
