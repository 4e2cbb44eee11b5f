#pragma once

// MasterKey: the 256-bit key that wraps every data key of the vault (design D4), and the ways an
// operator hands it to the process: a key file or the CLAWVISOR_MASTER_KEY environment variable.
//
// A master key is named by its key id, "mk_" + the first 8 bytes of
// SHA-256("clawvisor.master-key-id.v1" || key) in hex. The id is stored beside every wrapped
// record, so the vault knows which of the master keys it holds unwraps a record (rotation) and
// can say clearly that it was started with the wrong one. The id reveals nothing usable about
// the key: it is a truncated hash of 256 random bits.
//
// Text form (file and environment variable): 64 hex digits, or standard base64 of the 32 bytes
// (44 characters with padding); surrounding whitespace is ignored. Files are written in hex.
//
// The key file must be a regular file owned by the effective user with no group or other
// permission bits (0600 or stricter), in a directory that is not world-writable: anything looser
// is refused with kPermissionDenied and the fix in the message, as ssh refuses a readable
// private key. Errors name the path and the problem, never the key.
//
// Thread-safety: a MasterKey is an immutable value; the functions below are safe to call from
// several threads (creating the same file concurrently yields one key, read by both).

#include <array>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "engine/random.h"
#include "events/result.h"

namespace clawvisor {

inline constexpr size_t kMasterKeySize = 32;
inline constexpr std::string_view kMasterKeyEnvVar = "CLAWVISOR_MASTER_KEY";

class MasterKey {
 public:
  // `bytes` must hold exactly kMasterKeySize bytes (kInvalidArgument otherwise).
  static Result<MasterKey> FromBytes(std::span<const std::byte> bytes);
  // Parses the text form (hex or base64, see above).
  static Result<MasterKey> Parse(std::string_view text);
  // A fresh random key (production passes OsRandom).
  static MasterKey Generate(RandomSource& random);

  MasterKey(const MasterKey& other);
  MasterKey& operator=(const MasterKey& other);
  ~MasterKey();  // wipes the key bytes

  const std::string& id() const { return id_; }
  std::span<const unsigned char, kMasterKeySize> bytes() const { return key_; }
  // The text form (hex). A secret: for writing the key file, never for a log line.
  std::string ToHex() const;

 private:
  MasterKey() = default;
  void DeriveId();

  std::array<unsigned char, kMasterKeySize> key_{};
  std::string id_;
};

// A MAC of the records a deployment's processes exchange (the keys topic,
// projections/shared_vault_store.h): HMAC-SHA-256 under a key derived from the master key for
// `purpose`, so only a holder of the master key can write a record the others accept. The derived
// key lives in the returned function (wiped when it is destroyed).
std::function<std::string(std::string_view)> MakeRecordAuthenticator(const MasterKey& master,
                                                                     std::string_view purpose);

// Reads the key file at `path`, creating it with a fresh key from `random` if it does not exist.
// Creation is atomic (written to a 0600 temporary with O_CREAT|O_EXCL, fsynced, then linked into
// place, so a crash never leaves a half-written key) and never replaces an existing file.
Result<MasterKey> LoadOrCreateMasterKeyFile(const std::filesystem::path& path,
                                            RandomSource& random);
// Reads an existing key file (kNotFound if there is none).
Result<MasterKey> LoadMasterKeyFile(const std::filesystem::path& path);
// Reads the key from the environment variable `name`: kNotFound if unset or empty.
Result<MasterKey> LoadMasterKeyFromEnv(std::string_view name = kMasterKeyEnvVar);

}  // namespace clawvisor
