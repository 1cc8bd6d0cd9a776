"""flask_app's source packer: reproducible archives, excludes honoured."""

import json
import subprocess
import sys
import tarfile

from conftest import ROOT

PACK = ROOT / "roles" / "flask_app" / "files" / "pack_source.py"


def pack(src, dest, *excludes):
    args = [sys.executable, str(PACK), str(src), str(dest)] + [f"--exclude={e}" for e in excludes]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def make_app(path):
    (path / "pkg").mkdir(parents=True)
    (path / "app_flask.py").write_text("app = None\n")
    (path / "pkg" / "__init__.py").write_text("")
    (path / ".venv" / "bin").mkdir(parents=True)
    (path / ".venv" / "bin" / "python").write_text("not code")
    (path / "pkg" / "__pycache__").mkdir()
    (path / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"\0")


def test_same_files_give_the_same_archive(tmp_path):
    make_app(tmp_path / "src")
    first = pack(tmp_path / "src", tmp_path / "a.tar", ".venv", "__pycache__")
    (tmp_path / "src" / "app_flask.py").touch()  # a new mtime alone changes nothing
    second = pack(tmp_path / "src", tmp_path / "b.tar", ".venv", "__pycache__")
    assert first["sha256"] == second["sha256"]
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_changed_content_changes_the_archive(tmp_path):
    make_app(tmp_path / "src")
    first = pack(tmp_path / "src", tmp_path / "a.tar")
    (tmp_path / "src" / "app_flask.py").write_text("app = 1\n")
    assert pack(tmp_path / "src", tmp_path / "a.tar")["sha256"] != first["sha256"]


def test_excluded_names_stay_out(tmp_path):
    make_app(tmp_path / "src")
    result = pack(tmp_path / "src", tmp_path / "a.tar", ".venv", "__pycache__")
    with tarfile.open(tmp_path / "a.tar") as tar:
        names = tar.getnames()
        owners = {(m.uid, m.gid, m.mtime) for m in tar.getmembers()}
    assert sorted(names) == ["app_flask.py", "pkg", "pkg/__init__.py"]
    assert result["files"] == 2
    assert owners == {(0, 0, 0)}


def test_a_missing_source_names_the_variable(tmp_path):
    args = [sys.executable, str(PACK), str(tmp_path / "nope"), str(tmp_path / "a.tar")]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "flask_app_src" in result.stderr
