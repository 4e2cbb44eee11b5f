#!/usr/bin/env bash
# Builds the test guest image from Debian packages only (design D7): the packaged kernel
# (linux-image-cloud-amd64) and a busybox (busybox-static) initramfs holding the virtio modules,
# an init that reads its configuration from fw_cfg, mounts the data disk and serves OpenClaw's
# gateway contract on port 18789.
#
# Usage: ops/guest/build.sh [OUT_DIR]     (default: $CLAWVISOR_GUEST_DIR, else
#                                          ~/.cache/clawvisor/guest)
# Prints the output directory. OUT_DIR gets `kernel` (a symlink to /boot/vmlinuz-*),
# `initramfs.cpio.gz` and `stamp` (a hash of the inputs: an unchanged input is not rebuilt).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${CLAWVISOR_GUEST_DIR:-$HOME/.cache/clawvisor/guest}}

kernel=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$kernel" ]; then
  echo "guest: no /boot/vmlinuz-*-cloud-amd64: run ops/install-deps.sh (linux-image-cloud-amd64)" >&2
  exit 69
fi
kver=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$kver/kernel
busybox=/bin/busybox
# The applet list is read whole before it is searched: `busybox --list | grep -q` under pipefail
# fails at random when grep stops reading early and busybox dies of SIGPIPE.
applets=$([ -x "$busybox" ] && "$busybox" --list || true)
grep -qx nc <<<"$applets" || {
  echo "guest: busybox-static is missing: run ops/install-deps.sh" >&2; exit 69; }

# The order matters: each module needs the ones before it (design D7).
modules=(
  drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio
  net/core/failover drivers/net/net_failover drivers/net/virtio_net
  drivers/block/virtio_blk drivers/firmware/qemu_fw_cfg drivers/char/hw_random/virtio-rng
)
# A TLS client for the egress tests (design D9): OpenSSL's command-line tool and the libraries
# it loads, copied in as they are on the host.
openssl_bin=/usr/bin/openssl
[ -x "$openssl_bin" ] || { echo "guest: openssl is missing: run ops/install-deps.sh" >&2; exit 69; }
openssl_libs=$(ldd "$openssl_bin" | awk '/=>/ {print $3} /^[[:space:]]*\/lib64/ {print $1}')

stamp=$( { echo "$kver"; sha256sum "$busybox" "$here/init" "$here/gateway.sh" "$here/build.sh" "$openssl_bin" $openssl_libs;
           for m in "${modules[@]}"; do sha256sum "$moddir/$m.ko"*; done; } | sha256sum | cut -c1-32)
up_to_date() {
  [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$out/initramfs.cpio.gz" ]
}
# The image's registration (`--guest-images test=DIR`; engine/reconcile/guest_images.h).
mkdir -p "$out"
printf '%s\n' "# written by ops/guest/build.sh: the busybox test image" "openclaw_version=test" \
  "kernel=kernel" "initrd=initramfs.cpio.gz" > "$out/image.conf"
if up_to_date; then
  echo "$out"
  exit 0
fi

# Tests build the image on demand, several at once: one builds while the others wait, and they
# find it built (no two writers in the same directory).
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
if up_to_date; then
  echo "$out"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,run,tmp,data,etc,lib/modules}
cp "$busybox" "$root/bin/busybox"
for applet in $applets; do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
for m in "${modules[@]}"; do
  candidates=("$moddir/$m".ko*)
  src=${candidates[0]}
  case "$src" in
    *.ko.xz) xz -dc "$src" > "$root/lib/modules/$(basename "$m").ko" ;;
    *.ko.zst) zstd -dcq "$src" > "$root/lib/modules/$(basename "$m").ko" ;;
    *) cp "$src" "$root/lib/modules/$(basename "$m").ko" ;;
  esac
done
printf '%s\n' "${modules[@]##*/}" > "$root/lib/modules/order"
cp "$openssl_bin" "$root/bin/openssl"
for lib in $openssl_libs; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
install -m 0755 "$here/init" "$root/init"
install -m 0755 "$here/gateway.sh" "$root/bin/gateway.sh"
(cd "$root" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -9n > "$work/initramfs.cpio.gz"
mv "$work/initramfs.cpio.gz" "$out/initramfs.cpio.gz.tmp.$$"
mv "$out/initramfs.cpio.gz.tmp.$$" "$out/initramfs.cpio.gz"
ln -sfn "$kernel" "$out/kernel"
echo "$stamp" > "$out/stamp"
echo "$out"
