"""Attributes every module of the collection shares: full check mode, no diff, any POSIX server."""

from __future__ import annotations


class ModuleDocFragment:
    """Used as extends_documentation_fragment: flaskstack.deploy.attributes."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Whether it runs with --check, saying what would change without changing it.
    support: full
  diff_mode:
    description: Whether it shows what it changed with --diff.
    support: none
  platform:
    description: The systems it can manage.
    support: N/A
    platforms: posix
"""
