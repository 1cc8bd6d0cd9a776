"""Pack an app's source directory into a reproducible tar file.

Runs on the control machine. The same files always give the same bytes (sorted
names, zero mtimes, root ownership, normalised modes), so Ansible's copy module
uploads the archive only when the code really changed.

    pack_source.py SRC DEST [--exclude PATTERN ...]

PATTERN is matched (fnmatch) against each file or directory name and against
its path relative to SRC. Prints a JSON object: {"dest", "sha256", "files"}.
"""

import argparse
import fnmatch
import hashlib
import json
import os
import stat
import sys
import tarfile


def excluded(rel, name, patterns):
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) for p in patterns)


def collect(src, patterns):
    """Yield (relative path, absolute path) for what goes into the archive, sorted."""
    for root, dirs, files in os.walk(src):
        rel_root = os.path.relpath(root, src)
        keep = []
        for name in sorted(dirs):
            rel = os.path.normpath(os.path.join(rel_root, name))
            if not excluded(rel, name, patterns):
                keep.append(name)
        dirs[:] = keep
        entries = [(name, True) for name in keep] + [(name, False) for name in files]
        for name, _kind in sorted(entries):
            rel = os.path.normpath(os.path.join(rel_root, name))
            if not excluded(rel, name, patterns):
                yield rel, os.path.join(root, name)


def normalised(info, path):
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    if info.isdir():
        info.mode = 0o755
    elif info.isfile():
        executable = os.stat(path).st_mode & stat.S_IXUSR
        info.mode = 0o755 if executable else 0o644
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src")
    parser.add_argument("dest")
    parser.add_argument("--exclude", action="append", default=[])
    args = parser.parse_args(argv)

    if not os.path.isdir(args.src):
        sys.exit(f"flask_app_src: {args.src} is not a directory on the control machine")
    os.makedirs(os.path.dirname(os.path.abspath(args.dest)), exist_ok=True)
    partial = args.dest + ".partial"
    count = 0
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in collect(args.src, args.exclude):
            info = tar.gettarinfo(path, arcname=rel)
            if info.issym() and os.path.isabs(info.linkname):
                sys.exit(f"flask_app_src: {rel} is a symlink to an absolute path ({info.linkname})")
            info = normalised(info, path)
            if info.isfile():
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
                count += 1
            else:
                tar.addfile(info)
    os.replace(partial, args.dest)
    digest = hashlib.sha256()
    with open(args.dest, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    json.dump({"dest": args.dest, "sha256": digest.hexdigest(), "files": count}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
