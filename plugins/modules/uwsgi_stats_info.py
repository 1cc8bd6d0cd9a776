#!/usr/bin/python
"""Read a uWSGI instance's stats server (a unix socket or host:port) and summarise its workers."""

from __future__ import annotations

DOCUMENTATION = r"""
module: uwsgi_stats_info
short_description: What a uWSGI instance is doing, from its stats server
description:
  - Connects to the stats server of a uWSGI instance (the C(stats) option; the uwsgi role serves it on
    C(/run/uwsgi-<instance>/stats.sock)), reads its JSON and returns a summary of the workers.
  - Read only; never changes anything.
version_added: 1.0.0
author: flaskstack maintainers (@flaskstack)
options:
  socket:
    description: The stats server, an absolute unix socket path or C(host:port).
    type: str
    required: true
  timeout:
    description: Seconds to wait for the stats server.
    type: float
    default: 5
extends_documentation_fragment:
  - flaskstack.deploy.attributes
attributes:
  check_mode:
    description: Whether it runs with --check, saying what would change without changing it.
    support: full
    details: Reads only, so it runs in check mode too.
"""

EXAMPLES = r"""
- name: Read the chatbot's uWSGI stats
  flaskstack.deploy.uwsgi_stats_info:
    socket: /run/uwsgi-chatbot/stats.sock
  register: stats

- name: Show its request count
  ansible.builtin.debug:
    msg: "{{ stats.requests }} requests served by {{ stats.workers | length }} workers"
"""

RETURN = r"""
version:
  description: The uWSGI version.
  returned: success
  type: str
  sample: 2.0.31
pid:
  description: PID of the master process.
  returned: success
  type: int
listen_queue:
  description: Connections waiting in the socket's backlog now.
  returned: success
  type: int
requests:
  description: Requests served by all workers since they started.
  returned: success
  type: int
workers:
  description: One entry per worker.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Worker number, from 1.
      type: int
    pid:
      description: Process id.
      type: int
    status:
      description: C(idle), C(busy), C(cheap), C(pause) or C(sig).
      type: str
    requests:
      description: Requests served by this worker.
      type: int
    exceptions:
      description: Exceptions raised by the app in this worker.
      type: int
    respawns:
      description: How many times this worker was replaced.
      type: int
"""

import json
import socket

from ansible.module_utils.basic import AnsibleModule


def read_stats(address, timeout):
    """The JSON a uWSGI stats server sends on connect (it then closes the connection)."""
    if address.startswith("/"):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = address
    else:
        host, _sep, port = address.rpartition(":")
        conn = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        target = (host.strip("[]"), int(port))
    conn.settimeout(timeout)
    chunks = []
    try:
        conn.connect(target)
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        conn.close()
    return json.loads(b"".join(chunks).decode("utf-8", "replace"))


def summary(stats):
    workers = [
        {
            "id": worker.get("id"),
            "pid": worker.get("pid"),
            "status": worker.get("status"),
            "requests": worker.get("requests", 0),
            "exceptions": worker.get("exceptions", 0),
            "respawns": worker.get("respawn_count", 0),
        }
        for worker in stats.get("workers", [])
    ]
    return {
        "version": stats.get("version", ""),
        "pid": stats.get("pid"),
        "listen_queue": stats.get("listen_queue", 0),
        "requests": sum(worker["requests"] for worker in workers),
        "workers": workers,
    }


def main():
    module = AnsibleModule(
        argument_spec={"socket": {"type": "str", "required": True}, "timeout": {"type": "float", "default": 5}},
        supports_check_mode=True,
    )
    address = module.params["socket"]
    try:
        stats = read_stats(address, module.params["timeout"])
    except (OSError, ValueError) as error:
        module.fail_json(msg=f"Cannot read uWSGI's stats from {address}: {error}")
    module.exit_json(changed=False, **summary(stats))


if __name__ == "__main__":
    main()
