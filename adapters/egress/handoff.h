#pragma once

// The handoff: how a guest's TCP connection reaches the host's egress gateway (design D9).
//
// The process that owns a VM's network (its user-mode network stack) accepts the guest's
// connection to the gateway address and passes the connection's descriptor itself to the
// gateway over the gateway's Unix socket, with SCM_RIGHTS, in one message:
//
//   "clawvisor-egress/1 <account_id> <instance_id> <guest_port>\n"   + one descriptor
//
// The gateway serves the descriptor; the sender closes its copy and the socket. Attribution is by
// construction: the sender is the VM's own network process, started for that key; the guest
// chooses nothing but the bytes it sends. The socket is the owner's alone (0600) and the gateway
// also checks the sender's uid (SO_PEERCRED).
//
// Thread-safety: free functions.

#include <chrono>
#include <cstdint>
#include <string>

#include "engine/reconcile/vm_driver.h"
#include "events/result.h"

namespace clawvisor::egress {

// The guest ports the gateway serves: an HTTP CONNECT proxy, and raw TLS routed by SNI.
inline constexpr uint16_t kProxyPort = 3128;
inline constexpr uint16_t kTlsPort = 443;

struct Handoff {
  VmKey key;
  uint16_t guest_port = 0;
  int fd = -1;  // owned by the receiver
};

// Sends `fd` (not closed here) for `key`'s connection to `guest_port`.
Status HandOffConnection(const std::string& socket_path, const VmKey& key, uint16_t guest_port,
                         int fd, std::chrono::milliseconds timeout);

// Reads one handoff message from the connected socket `socket_fd` (non-blocking read: the caller
// waits for readability). kInvalidArgument for a malformed message (any descriptor that came
// with it is closed).
Result<Handoff> ReceiveHandoff(int socket_fd);

}  // namespace clawvisor::egress
