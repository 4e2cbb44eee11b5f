#!/usr/bin/env bash
# Boots the production image (ops/guest/build-openclaw.sh) once by hand, with the arguments
# QemuMicrovmDriver::CommandLine uses (user-mode network instead of the network helper), a
# made-up configuration (fake secrets) on fw_cfg and a fresh data disk, and reports the time
# from QEMU's launch to /healthz and /readyz answering on the forwarded port, then the auth
# check (an authenticated endpoint without and with the token) and QEMU's RSS. Kills its QEMU.
#
# Usage: ops/guest/try-openclaw.sh kvm|tcg [PORT]
#   env: IMAGE_DIR (default ~/.cache/clawvisor/guest-openclaw), MEM (MiB, 2048), SMP (1),
#        LIMIT (seconds to wait, 900), TCG_APPEND (the TCG kernel arguments; default what the
#        driver gives an image with tcg_clock=tsc: the host's TSC rate, read from /proc/cpuinfo
#        here, measured by the driver)
set -euo pipefail
accel=${1:?usage: try-openclaw.sh kvm|tcg [PORT]}
port=${2:-38789}
img=${IMAGE_DIR:-$HOME/.cache/clawvisor/guest-openclaw}
[ -f "$img/rootfs.img" ] || { echo "try-openclaw: no $img/rootfs.img: run ops/guest/build-openclaw.sh" >&2; exit 69; }
dir=$(mktemp -d /tmp/clawvisor-try.XXXXXX)
token=try-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
qemu_pid=""
cleanup() { [ -n "$qemu_pid" ] && kill -9 "$qemu_pid" 2>/dev/null; rm -f "$dir/disk.img" "$dir/config.json"; }
trap cleanup EXIT

truncate -s 4G "$dir/disk.img" && mkfs.ext4 -q -F "$dir/disk.img"
(umask 077 && cat > "$dir/config.json" <<EOF
{
  "schema": 1,
  "account_id": "acct-try",
  "instance_id": "inst-try",
  "revision": 1,
  "host_id": "host-try",
  "gateway_port": 18789,
  "gateway_token": "$token",
  "credentials": [
    {"name": "anthropic", "kind": "model_api_key", "value": "sk-ant-try-not-a-key"}
  ],
  "test": {"fail_health": false, "fill_disk": false, "crash_once_after_requests": 0}
}
EOF
)
append="console=ttyS0 quiet panic=-1"
cpu=()
tsc_khz=$(awk -F: '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
if [ "$accel" = tcg ]; then append+=" ${TCG_APPEND-tsc_early_khz=$tsc_khz tsc=reliable}"; else cpu=(-cpu host); fi
append+=" root=/dev/vdb ro rootfstype=ext4"
start=$(date +%s.%N)
qemu-system-x86_64 -name clawvisor-try -M microvm,x-option-roms=off,isa-serial=on,rtc=on \
  -accel "$accel" "${cpu[@]}" -m "${MEM:-2048}" -smp "${SMP:-1}" -nodefaults -no-user-config \
  -display none -chardev "file,id=console,path=$dir/serial.log" -serial chardev:console \
  -qmp "unix:$dir/qmp.sock,server=on,wait=off" -kernel "$img/kernel" \
  -initrd "$img/initramfs.cpio.gz" -append "$append" -no-reboot \
  -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:18789" \
  -device virtio-net-device,netdev=n0 \
  -drive "file=$dir/disk.img,format=raw,if=none,id=data,aio=threads" \
  -device virtio-blk-device,drive=data \
  -fw_cfg "name=opt/clawvisor/config,file=$dir/config.json" \
  -drive "file=$img/rootfs.img,format=raw,if=none,id=root,readonly=on" \
  -device virtio-blk-device,drive=root \
  -object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-device,rng=rng0 \
  > "$dir/qemu.log" 2>&1 &
qemu_pid=$!
elapsed() { echo "$(date +%s.%N) - $start" | bc; }
url=http://127.0.0.1:$port
healthy=""
while :; do
  kill -0 "$qemu_pid" 2>/dev/null || { echo "QEMU exited after $(elapsed)s: $(tail -3 "$dir/qemu.log")"; break; }
  if [ -z "$healthy" ] && curl -s -m 2 "$url/healthz" 2>/dev/null | grep -q '"ok":true'; then
    healthy=$(elapsed); echo "healthz after ${healthy}s"
  fi
  if [ -n "$healthy" ] && curl -s -m 2 "$url/readyz" 2>/dev/null | grep -q '"ready":true'; then
    echo "readyz after $(elapsed)s"; break
  fi
  [ "$(echo "$(elapsed) > ${LIMIT:-900}" | bc)" = 1 ] && { echo "not ready after ${LIMIT:-900}s"; break; }
  sleep 0.5
done
if [ -n "$healthy" ]; then
  invoke() { curl -s -o /dev/null -w '%{http_code}' -m 30 -X POST "$url/tools/invoke" \
               -H 'content-type: application/json' -d '{"tool":"sessions_list","args":{}}' "$@"; }
  echo "POST /tools/invoke without token: $(invoke), with token: $(invoke -H "Authorization: Bearer $token")"
fi
echo "QEMU RSS: $(awk '/VmRSS/ {print $2, $3}' "/proc/$qemu_pid/status" 2>/dev/null)"
echo "serial console ($dir/serial.log):"; tail -20 "$dir/serial.log"
grep -q -e "$token" -e sk-ant-try "$dir/serial.log" && echo "SECRET ON THE CONSOLE" && exit 1
exit 0
