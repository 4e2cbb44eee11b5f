#pragma once

// A Sealer for unit tests of the layers above sealing (decider, processor, projector). It binds
// values to their context like the real one (a value opened under another context fails) and
// never stores the plaintext as-is (bytes are reversed and XOR-ed), so tests that search for
// plaintext still mean something. Not encryption: production uses KeyVault (adapters/openssl).

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "engine/sealer.h"

namespace clawvisor::testing {

class FakeSealer final : public Sealer {
 public:
  Result<v1::Sealed> Seal(const SealContext& context, std::string_view plaintext) override;
  Result<std::string> Open(const SealContext& context, const v1::Sealed& sealed) override;
  Result<std::string> LookupHash(std::string_view purpose, std::string_view value) override;
  Status DestroyAccountKeys(std::string_view account_id) override;
  int seals() const { return seals_; }

 private:
  static std::string Scramble(std::string_view context, std::string_view bytes);
  std::mutex mu_;
  std::set<std::string, std::less<>> destroyed_;
  int seals_ = 0;
};

}  // namespace clawvisor::testing
