#pragma once

// FdSink: a ByteSink over a file descriptor it does not own (stdout, or a file the caller
// opened); every byte is written (short writes and EINTR are retried).
//
// Thread-safety: one FdSink is one thread's.

#include "projections/audit_export.h"

namespace clawvisor {

class FdSink final : public ByteSink {
 public:
  explicit FdSink(int fd) : fd_(fd) {}
  Status Write(std::string_view bytes) override;

 private:
  int fd_;
};

}  // namespace clawvisor
