#!/bin/sh
# The key the Molecule scenarios connect with: made once per checkout, kept
# in .cache/ssh (ignored by git). Each container mounts the public half as
# the ubuntu user's authorized_keys (molecule.yml's volumes).
set -eu
dir=${1:-.cache/ssh}
if [ ! -f "$dir/id_ed25519" ]; then
    mkdir -p "$dir"
    chmod 0700 "$dir"
    ssh-keygen -q -t ed25519 -N '' -C flaskstack-molecule -f "$dir/id_ed25519"
fi
# sshd refuses an authorized_keys that others may write to.
chmod 0644 "$dir/id_ed25519.pub"
