#include "adapters/qemu/qmp_client.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <boost/asio.hpp>

namespace clawvisor::qemu {
namespace asio = boost::asio;
using Local = asio::local::stream_protocol;

struct QmpClient::Impl {
  asio::io_context io;
  Local::socket socket{io};
  asio::streambuf buffer;

  // Runs `start` (which begins one async operation) until it completes or `timeout` passes.
  template <typename Start>
  boost::system::error_code Run(Start&& start, std::chrono::milliseconds timeout) {
    boost::system::error_code result = asio::error::would_block;
    start(result);
    io.restart();
    io.run_for(timeout);
    if (result == asio::error::would_block) {
      boost::system::error_code ignored;
      socket.cancel(ignored);
      io.restart();
      io.run();
      return asio::error::timed_out;
    }
    return result;
  }

  Result<std::string> ReadLine(std::chrono::milliseconds timeout) {
    auto ec = Run(
        [&](boost::system::error_code& out) {
          asio::async_read_until(socket, buffer, '\n',
                                 [&out](boost::system::error_code e, size_t) { out = e; });
        },
        timeout);
    if (ec) return MakeError(Errc::kUnavailable, "QMP read: " + ec.message());
    std::istream in(&buffer);
    std::string line;
    std::getline(in, line);
    return line;
  }

  clawvisor::Status Write(std::string text, std::chrono::milliseconds timeout) {
    text += '\n';
    auto ec = Run(
        [&](boost::system::error_code& out) {
          asio::async_write(socket, asio::buffer(text),
                            [&out](boost::system::error_code e, size_t) { out = e; });
        },
        timeout);
    if (ec) return MakeError(Errc::kUnavailable, "QMP write: " + ec.message());
    return {};
  }
};

QmpClient::QmpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
QmpClient::~QmpClient() = default;
QmpClient::QmpClient(QmpClient&&) noexcept = default;
QmpClient& QmpClient::operator=(QmpClient&&) noexcept = default;

Result<QmpClient> QmpClient::Connect(const std::string& socket_path,
                                     std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  try {
    auto ec = impl->Run(
        [&](boost::system::error_code& out) {
          impl->socket.async_connect(Local::endpoint(socket_path),
                                     [&out](boost::system::error_code e) { out = e; });
        },
        timeout);
    if (ec) return MakeError(Errc::kUnavailable, "QMP connect: " + ec.message());
  } catch (const std::exception& e) {  // an over-long path throws from the endpoint
    return MakeError(Errc::kInvalidArgument, std::string("QMP socket path: ") + e.what());
  }
  QmpClient client(std::move(impl));
  auto greeting = client.impl_->ReadLine(timeout);
  if (!greeting) return std::unexpected(greeting.error());
  if (greeting->find("\"QMP\"") == std::string::npos) {
    return MakeError(Errc::kCorruption, "QMP: unexpected greeting");
  }
  if (auto ok = client.Execute("qmp_capabilities", timeout); !ok) {
    return std::unexpected(ok.error());
  }
  return client;
}

Result<std::string> QmpClient::ReadReply(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return MakeError(Errc::kTimeout, "QMP: no reply in time");
    auto line = impl_->ReadLine(left);
    if (!line) return line;
    google::protobuf::Struct message;
    if (!google::protobuf::util::JsonStringToMessage(*line, &message).ok()) {
      return MakeError(Errc::kCorruption, "QMP: reply is not JSON");
    }
    const auto& fields = message.fields();
    if (fields.contains("event")) continue;  // asynchronous events interleave with replies
    if (auto it = fields.find("error"); it != fields.end()) {
      std::string desc = "QMP error";
      if (it->second.has_struct_value()) {
        const auto& e = it->second.struct_value().fields();
        if (auto d = e.find("desc"); d != e.end()) desc += ": " + d->second.string_value();
      }
      return MakeError(Errc::kInternal, desc);
    }
    if (auto it = fields.find("return"); it != fields.end()) {
      std::string out;
      (void)google::protobuf::util::MessageToJsonString(it->second, &out);
      return out;
    }
  }
}

Result<std::string> QmpClient::Execute(std::string_view command,
                                       std::chrono::milliseconds timeout) {
  if (auto ok = impl_->Write("{\"execute\":\"" + std::string(command) + "\"}", timeout); !ok) {
    return std::unexpected(ok.error());
  }
  return ReadReply(timeout);
}

Result<std::string> QmpClient::Status(std::chrono::milliseconds timeout) {
  auto reply = Execute("query-status", timeout);
  if (!reply) return reply;
  google::protobuf::Struct status;
  if (!google::protobuf::util::JsonStringToMessage(*reply, &status).ok()) {
    return MakeError(Errc::kCorruption, "QMP: query-status reply is not an object");
  }
  auto it = status.fields().find("status");
  if (it == status.fields().end()) return MakeError(Errc::kCorruption, "QMP: no status");
  return it->second.string_value();
}

}  // namespace clawvisor::qemu
