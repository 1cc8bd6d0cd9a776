"""The dpkg_missing filter: which wanted packages dpkg-query does not show installed."""

import importlib.util

from conftest import ROOT

spec = importlib.util.spec_from_file_location("package_filters", ROOT / "plugins" / "filter" / "packages.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)


def test_only_installed_packages_count():
    # dpkg-query -W -f='${db:Status-Abbrev}${Package}\n': installed, removed
    # with its config kept, never installed; plus lines of other output.
    lines = ["ii nginx", "rc logrotate", "un libpcre2-dev", "spec uwsgi>=2.0.28", "pcre", "cpus 2"]
    assert module.dpkg_missing(["nginx", "logrotate", "libpcre2-dev", "gcc"], lines) == ["logrotate", "libpcre2-dev", "gcc"]
    assert module.dpkg_missing(["nginx"], lines) == []
    assert module.dpkg_missing(["nginx"], []) == ["nginx"]
