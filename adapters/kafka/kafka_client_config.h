#pragma once

// The operator's librdkafka properties for reaching a production cluster: TLS
// (`security.protocol=SSL`, `ssl.ca.location`, client certificates), SASL
// (`sasl.mechanism`, `sasl.username`, `sasl.password`) and tuning, from a file given with
// `--kafka-config FILE`: `key=value` lines, `#` comments, blank lines.
//
// The file may hold a SASL password or a key's passphrase, so it must be a regular file of
// this user, mode 0600 or 0400, and no value is ever shown: not in an error, not in a log.
// Properties clawvisor's guarantees rest on (transactions, idempotence, acks, isolation,
// group membership, offsets) are refused, as is bootstrap.servers (the flag names it).
// Every property is checked by librdkafka when the file is loaded, so a misspelt key stops the
// start with a usage error instead of failing at the first connection.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "events/result.h"

namespace clawvisor {

using KafkaProperties = std::vector<std::pair<std::string, std::string>>;

Result<KafkaProperties> LoadKafkaClientConfig(const std::filesystem::path& path);
// The same checks on text already read (tests).
Result<KafkaProperties> ParseKafkaClientConfig(std::string_view text);

}  // namespace clawvisor
