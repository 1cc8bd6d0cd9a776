"""Filter that reads dpkg-query's answer: which of the wanted packages are not installed.

Documented in dpkg_missing.yml next to this file.
"""


def dpkg_missing(wanted, lines):
    """WANTED minus the packages LINES show installed.

    LINES: output of dpkg-query -W -f='${db:Status-Abbrev}${Package}\\n' (one
    "ii  name" line per installed package); other lines are ignored.
    """
    installed = {line[3:].strip() for line in lines if line.startswith("ii ")}
    return [name for name in wanted if name not in installed]


class FilterModule:
    def filters(self):
        return {"dpkg_missing": dpkg_missing}
