#pragma once

// InstanceSecrets: the one internal call that returns an instance's secrets in plaintext.
//
// The reconciler (#6) uses it to build the configuration it hands a microVM through fw_cfg:
// the gateway token and the credentials (model API keys, bot tokens), and the passphrase of its
// encrypted data disk, which goes to the VM driver (never into the guest's configuration). No
// query, export, log or API response ever goes through it; everything else sees only masked
// last-4 forms.
//
// Implementations read the sealed values (never plaintext) that the projections keep for this
// purpose and open them with the Sealer. For an erased account or a deleted instance the call
// fails with kNotFound: nothing of theirs can be opened any more.
// Thread-safety: implementations are safe for concurrent use.

#include <string.h>

#include <string>
#include <string_view>
#include <vector>

#include "clawvisor/v1/common.pb.h"
#include "events/result.h"

namespace clawvisor {

struct InstanceCredential {
  std::string name;  // e.g. "openai", "telegram"
  v1::CredentialKind kind = v1::CREDENTIAL_KIND_UNSPECIFIED;
  std::string value;  // plaintext: keep it in memory only, never log it
};

struct InstanceSecretValues {
  std::string gateway_token;  // plaintext
  // The data disk's passphrase (LUKS), plaintext; empty for an instance created before disks
  // were encrypted (the driver refuses to create a disk without one).
  std::string volume_key;
  std::vector<InstanceCredential> credentials;  // sorted by name
};

// Overwrites a plaintext before its memory is given back (explicit_bzero: a store the compiler
// may not drop as dead), then empties it.
inline void WipeSecret(std::string& secret) {
  ::explicit_bzero(secret.data(), secret.size());
  secret.clear();
}
inline void WipeSecrets(InstanceSecretValues& values) {
  WipeSecret(values.gateway_token);
  WipeSecret(values.volume_key);
  for (auto& credential : values.credentials) WipeSecret(credential.value);
}

class InstanceSecrets {
 public:
  virtual ~InstanceSecrets() = default;

  // The instance's current gateway token and credentials, opened. kNotFound if the account or
  // instance does not exist, was deleted or was erased.
  virtual Result<InstanceSecretValues> Open(std::string_view account_id,
                                            std::string_view instance_id) = 0;
};

}  // namespace clawvisor
