"""Lookup: the SHA-1 checksum of files on the control machine."""

from __future__ import annotations

DOCUMENTATION = r"""
name: sha1
short_description: SHA-1 checksums of files on the control machine
description:
  - Returns the SHA-1 checksum (hex) of each file, found like the C(src) of M(ansible.builtin.copy) (a role's
    C(files) directory, the playbook's, or an absolute path), reading it in blocks so that large files (a
    trained model) need no memory to match.
  - With P(flaskstack.deploy.drifted#filter) it tells whether a file on the server, as
    M(flaskstack.deploy.look) reported it, already has this content.
version_added: 1.0.0
author: flaskstack maintainers (@flaskstack)
options:
  _terms:
    description: Paths of the files.
    type: list
    elements: path
    required: true
"""

EXAMPLES = r"""
- name: Upload the model unless the server has it already
  ansible.builtin.copy:
    src: model.bin
    dest: /srv/app/shared/data/model.bin
    mode: "0640"
  when: _look | flaskstack.deploy.drifted('/srv/app/shared/data/model.bin', checksum=lookup('flaskstack.deploy.sha1', 'model.bin'), mode='0640')
"""

RETURN = r"""
_raw:
  description: One checksum per file.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.hashing import checksum


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        checksums = []
        for term in terms:
            path = self.find_file_in_search_path(variables, "files", term, ignore_missing=True)
            if not path:
                raise AnsibleLookupError(f"sha1: no file {term!r} on the control machine")
            checksums.append(checksum(path))
        return checksums
