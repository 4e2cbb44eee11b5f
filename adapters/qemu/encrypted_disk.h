#pragma once

// An instance's data disk, encrypted: a qcow2 file whose clusters are encrypted in the LUKS
// format (QEMU's `encrypt.format=luks`: a LUKS1 header and key slots inside the file, AES-256-XTS
// with a 512-bit master key, PBKDF2-SHA256), opened by QEMU itself, so the plaintext exists only
// inside the VM's QEMU process (never as a host block device, a mount or a file).
//
// Why not a raw LUKS2 file under QEMU's `luks` driver: that driver reads LUKS1 only ("LUKS
// version 2 is not supported", 7.2 and later alike), and it drops the guest's discards, so the
// space a file held could never be given back and the quota watch, which measures the file,
// would be a one-way high-water mark. A dm-crypt LUKS2 device would put the plaintext in the
// host kernel, readable by any host root process, and need root. qcow2 keeps the file sparse
// (clusters never written read as zeros) and turns a discard into a hole in the file; its
// embedded header is standard LUKS1, which cryptsetup reads (tests/adapters/qemu).
//
// The passphrase is the instance's volume key (256 random bits), so PBKDF2's iteration count
// guards nothing and is kept low (fast boots). The filesystem is made in a sparse plaintext
// scratch file (a fresh ext4 holds no user data) and encrypted into the volume by qemu-img.
//
// Thread-safety: free functions; calls for one path must not overlap.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"

namespace clawvisor::qemu {

struct DiskTools {
  std::string qemu_img = "qemu-img";
  std::string mkfs = "mkfs.ext4";
};

// Makes `path` an encrypted disk of `bytes` (the guest's size) holding an empty ext4 labelled
// clawvisor-data, under `passphrase` (handed to qemu-img through a pipe). Works in `work_dir`
// (the VM's 0700 directory); the disk appears under `path` only once whole (AtomicFile: a 0600
// temporary `path`.tmp, fsync, rename).
Status CreateEncryptedDisk(const DiskTools& tools, const std::string& path, uint64_t bytes,
                           std::string_view passphrase, const std::string& work_dir);

// Overwrites the volume's LUKS header and key slots (where its master key lives, wrapped by the
// passphrase) with random bytes and syncs them: afterwards no passphrase opens the volume, so
// whatever copy of the file survives (a backup of the host, a block not yet reused) is noise.
// Succeeds when `path` does not exist.
Status ShredEncryptedDisk(const std::string& path);

// QEMU's arguments that open the disk as the block node `node` (`-device
// virtio-blk-device,drive=<node>` attaches it), discards passed through to the file, the
// passphrase read from `key_file` (SecretPath(i) of child_process.h). The secret object's id is
// `node` + "-key".
std::vector<std::string> EncryptedDiskArgs(const std::string& path, const std::string& key_file,
                                           const std::string& node);

}  // namespace clawvisor::qemu
