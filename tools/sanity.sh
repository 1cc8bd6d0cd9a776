#!/usr/bin/env bash
# ansible-test sanity on the built collection, unpacked at
# build/sanity/ansible_collections/flaskstack/deploy (ansible-test needs that
# path, and skips everything under a hidden directory). ansible-test runs
# from a virtualenv of its own (build/sanity-venv, made on the first run) with
# the ansible-core of requirements-dev.txt; --requirements lets it install each
# test's pinned tools.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
core=$(sed -n 's/^ansible-core==//p' requirements-dev.txt)
venv=$root/build/sanity-venv
if [ ! -x "$venv/bin/ansible-test" ] || [ "$("$venv/bin/python" -c 'import ansible.release as r; print(r.__version__)')" != "$core" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "ansible-core==$core"
fi
# What users install: the collection as ansible-galaxy builds it (galaxy.yml's
# build_ignore leaves out the tests, Molecule, the benchmarks and tools), plus
# tests/sanity (the ignore file: only the GPL licence header, which an MIT
# collection does not carry).
dest=$root/build/sanity/ansible_collections/flaskstack/deploy
rm -rf "$root/build/sanity" "$root/build/dist"
mkdir -p "$dest" "$root/build/dist"
"$venv/bin/ansible-galaxy" collection build -v --output-path "$root/build/dist" "$root" >/dev/null
tar -C "$dest" -xzf "$root"/build/dist/flaskstack-deploy-*.tar.gz
mkdir -p "$dest/tests"
cp -r "$root/tests/sanity" "$dest/tests/"
# A repository of its own: ansible-test lists the files with git, and would
# otherwise find the checkout's repository, which ignores build/.
git -C "$dest" init -q
git -C "$dest" add -A
python=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# Each sanity test gets a virtualenv of its own, which ansible-test seeds by
# running get-pip.py from ci-files.testing.ansible.com, out of reach here, and
# fills with pip configuration switched off (PIP_CONFIG_FILE=/dev/null), so
# without this machine's package index and CA certificates. Its cache gets a
# stand-in for get-pip.py: pip from the Python's own ensurepip, plus a .pth
# file that gives that virtualenv's pip this machine's pip settings as PIP_*
# variables; then it installs what ansible-test asked for (pip==<version>).
tests_dir=$("$venv/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(grep -o "pip='[0-9.]*'" "$tests_dir/_internal/python_requirements.py" | head -1 | tr -dc '0-9.')
pip_env=$("$venv/bin/python" - <<'PY'
import re, subprocess
out = subprocess.run(["python3", "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
found = {}
for line in out.splitlines():
    match = re.match(r"^[^.]*\.([a-z-]+)='(.*)'$", line)
    if match and match.group(1) not in ("constraint", "require-virtualenv"):
        found["PIP_" + match.group(1).upper().replace("-", "_")] = match.group(2)
print(repr(found))
PY
)
cache=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
mkdir -p "$(dirname "$cache")"
cat > "$cache" <<PY
# Stand-in for get-pip.py, written by flaskstack.deploy's tools/sanity.sh.
import ensurepip
import os
import subprocess
import sys
import sysconfig

settings = $pip_env
ensurepip.bootstrap()
with open(os.path.join(sysconfig.get_paths()["purelib"], "flaskstack_pip_settings.pth"), "w") as pth:
    pth.write("import os; os.environ.update(%r)\n" % settings)
os.environ.update(settings)
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "-q", *args]))
PY
cd "$dest"
exec "$venv/bin/ansible-test" sanity --local --python "$python" --requirements "$@"
