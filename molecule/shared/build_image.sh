#!/usr/bin/env bash
# Build a systemd-ready Debian test image from a debootstrap root filesystem,
# because no container registry can be reached here.
#   build_image.sh SUITE IMAGE      e.g. build_image.sh bookworm localhost/flaskstack-debian12:latest
# Does nothing when the image already exists. The image looks like a cloud
# server: a normal user "ubuntu" with passwordless sudo, python3 for Ansible,
# and sshd (the scenarios connect over SSH, with a key mounted at start).
set -euo pipefail

suite=$1
image=$2
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}

# The image is labelled with this script's checksum: an image built by an
# older version of the script is built again.
recipe=$(sha256sum "$0" | cut -c1-16)
if podman image exists "$image"; then
    if [ "$(podman image inspect --format '{{ index .Labels "flaskstack.recipe" }}' "$image")" = "$recipe" ]; then
        echo "image $image exists"
        exit 0
    fi
    echo "image $image was built by another version of $(basename "$0"): building it again"
fi

mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
    for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
        [ -f "$f" ] || continue
        mirror=$(awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' "$f")
        [ -n "$mirror" ] && break
    done
fi
mirror=${mirror:-http://deb.debian.org/debian}

rootfs=$(mktemp -d /var/tmp/flaskstack-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

echo "debootstrap $suite from $mirror"
debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,iproute2,procps,sudo,openssh-server,ccache \
    "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -30 "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

# The package indexes are reached through a TLS-intercepting proxy: trust its
# CA inside the image and make pip use the system bundle. Production servers
# have their own trust, so this lives here and not in the roles.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
fi
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
# Use the same apt mirror as the host, as a cloud image uses its provider's.
printf 'deb %s %s main\n' "$mirror" "$suite" >"$rootfs/etc/apt/sources.list"
rm -f "$rootfs/etc/apt/sources.list.d/"*.sources

chroot "$rootfs" useradd --create-home --shell /bin/bash ubuntu
printf 'ubuntu ALL=(ALL) NOPASSWD:ALL\n' >"$rootfs/etc/sudoers.d/90-cloud-user"
chmod 0440 "$rootfs/etc/sudoers.d/90-cloud-user"
# Where each scenario mounts its public key (authorized_keys, read only).
install -d -m 0700 "$rootfs/home/ubuntu/.ssh"
chroot "$rootfs" chown ubuntu:ubuntu /home/ubuntu/.ssh
# Units that make no sense in a container and slow down boot.
for unit in systemd-networkd-wait-online.service getty@tty1.service; do
    chroot "$rootfs" systemctl mask "$unit" >/dev/null 2>&1 || true
done
# Two test-only speed-ups; neither changes what the roles do or install.
# dpkg skips fsync, as Debian's own container images do (the data is thrown
# away with the container anyway).
printf 'force-unsafe-io\n' >"$rootfs/etc/dpkg/dpkg.cfg.d/flaskstack-test-unsafe-io"
# ccache in front of gcc: uWSGI is still compiled from source by pip on every
# server (the role installs gcc, pip builds), but each scenario's containers
# share one compiler cache (.cache/ccache, mounted at /var/cache/ccache), so
# only the first build per distribution runs the compiler. /usr/local/bin
# comes first in sudo's secure_path; Python's sysconfig names the compiler
# x86_64-linux-gnu-gcc on Debian, plain builds use gcc or cc.
for name in gcc cc x86_64-linux-gnu-gcc; do
    ln -s /usr/bin/ccache "$rootfs/usr/local/bin/$name"
done
printf 'cache_dir = /var/cache/ccache\nbase_dir = /tmp\nhash_dir = false\nmax_size = 2G\n' >"$rootfs/etc/ccache.conf"
# Package lists filled as on a cloud image: the roles' apt cache_valid_time
# trusts the lists' age, so fresh empty lists would hide every package.
chroot "$rootfs" apt-get update -q >/dev/null
rm -rf "$rootfs"/var/cache/apt/archives/*.deb

tar -C "$rootfs" -c . | podman import --change 'CMD ["/sbin/init"]' --change "LABEL flaskstack.recipe=$recipe" - "$image" >/dev/null
echo "built $image"
