#include "adapters/kafka/kafka_client_config.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <memory>

namespace clawvisor {
namespace {

// What clawvisor sets itself, for its exactly-once and ordering guarantees.
constexpr std::array<std::string_view, 20> kReserved = {"bootstrap.servers",
                                                        "metadata.broker.list",
                                                        "transactional.id",
                                                        "enable.idempotence",
                                                        "acks",
                                                        "request.required.acks",
                                                        "isolation.level",
                                                        "group.id",
                                                        "group.instance.id",
                                                        "enable.auto.commit",
                                                        "enable.auto.offset.store",
                                                        "auto.offset.reset",
                                                        "enable.partition.eof",
                                                        "transaction.timeout.ms",
                                                        "partition.assignment.strategy",
                                                        "partitioner",
                                                        "session.timeout.ms",
                                                        "heartbeat.interval.ms",
                                                        "message.timeout.ms",
                                                        "max.in.flight.requests.per.connection"};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

Result<KafkaProperties> ParseKafkaClientConfig(std::string_view text) {
  KafkaProperties out;
  std::unique_ptr<rd_kafka_conf_t, void (*)(rd_kafka_conf_t*)> scratch(rd_kafka_conf_new(),
                                                                       rd_kafka_conf_destroy);
  size_t line_number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const std::string_view raw = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    const std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "kafka config line " + std::to_string(line_number);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return MakeError(Errc::kInvalidArgument, where + ": expected key=value");
    }
    const std::string key(Trim(line.substr(0, eq)));
    const std::string value(Trim(line.substr(eq + 1)));
    if (key.empty()) return MakeError(Errc::kInvalidArgument, where + ": empty key");
    if (std::find(kReserved.begin(), kReserved.end(), key) != kReserved.end()) {
      return MakeError(Errc::kInvalidArgument,
                       where + ": " + key +
                           " is set by clawvisor (its delivery guarantees rest on it); remove it");
    }
    char err[512];
    if (rd_kafka_conf_set(scratch.get(), key.c_str(), value.c_str(), err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
      // librdkafka's message may quote the value, which may be a password: never shown.
      return MakeError(Errc::kInvalidArgument,
                       where + ": librdkafka refuses " + key +
                           " (an unknown property, or a value it does not accept; the value is "
                           "not shown)");
    }
    out.emplace_back(key, value);
  }
  return out;
}

Result<KafkaProperties> LoadKafkaClientConfig(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return MakeError(Errc::kInvalidArgument,
                     "cannot open the Kafka config " + path.string() + " (nor follow a symlink)");
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || info.st_uid != ::geteuid() ||
      (info.st_mode & 077) != 0) {
    ::close(fd);
    return MakeError(Errc::kInvalidArgument,
                     "the Kafka config " + path.string() +
                         " may hold secrets: it must be a regular file of this user, mode 0600 "
                         "or 0400");
  }
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > 1 << 20) {
      ::close(fd);
      return MakeError(Errc::kInvalidArgument, "the Kafka config is larger than 1 MiB");
    }
  }
  ::close(fd);
  return ParseKafkaClientConfig(text);
}

}  // namespace clawvisor
