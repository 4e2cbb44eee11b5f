#pragma once

// Reads an encrypted data disk (adapters/qemu/encrypted_disk.h) with cryptsetup, a tool that
// shares no code with ours or QEMU's: the LUKS header inside the qcow2 file is located here, by
// a reading of the qcow2 format of its own, and copied out for cryptsetup to dump and try.

#include <string>

namespace clawvisor::testing {

// `cryptsetup luksDump` of the disk's LUKS header ("" when the disk holds none). `work_dir`
// receives the copied header for the moment of the call.
std::string LuksDump(const std::string& disk, const std::string& work_dir);

// Whether cryptsetup opens one of the disk's key slots with `passphrase`.
bool CryptsetupOpens(const std::string& disk, const std::string& passphrase,
                     const std::string& work_dir);

}  // namespace clawvisor::testing
