#pragma once

// VmNetwork: one microVM's network, in a process of its own (`clawvisor vm-network`), on
// libslirp: the user-mode TCP/IP stack QEMU's `-netdev user` is built on, run outside QEMU so
// QEMU's seccomp sandbox keeps `spawn=deny` (design D9).
//
// QEMU carries the guest's Ethernet frames over a Unix stream socket (`-netdev stream`,
// server=on); this stack is its client. The guest network is 10.0.2.0/24, the guest 10.0.2.15,
// the gateway 10.0.2.2. It is restricted: no route anywhere, no DNS, no DHCP. Exactly three
// things pass:
//   in   127.0.0.1:<forward_port> → guest 10.0.2.15:18789 (the health probe and the front door)
//   out  10.0.2.100:3128 and 10.0.2.100:443 → the host's egress gateway: each guest connection
//        is accepted here and its descriptor handed off (adapters/egress/handoff.h) with this
//        VM's key, so the gateway attributes it by construction.
//
// A frame QEMU cannot take yet is queued (up to kMaxQueuedBytes) and then dropped whole: TCP
// retransmits, the framing never breaks.
//
// Thread-safety: Run blocks its calling thread; nothing is shared.

#include <chrono>
#include <cstdint>
#include <string>

#include "engine/reconcile/vm_driver.h"
#include "events/result.h"

namespace clawvisor::slirp {

inline constexpr const char* kGuestAddress = "10.0.2.15";
inline constexpr const char* kEgressAddress = "10.0.2.100";
inline constexpr uint16_t kGuestGatewayPort = 18789;

struct VmNetworkOptions {
  VmKey key;
  std::string qemu_socket;    // QEMU's `-netdev stream,server=on` socket
  uint16_t forward_port = 0;  // on 127.0.0.1, to the guest's 18789
  std::string egress_socket;  // the egress gateway's handoff socket; empty: no way out at all
  std::string listen_dir;     // where the per-port egress sockets are made (the VM's directory)
  std::chrono::milliseconds connect_timeout{15'000};  // for QEMU's socket to appear
};

// Runs the stack until QEMU closes its socket (kOk), `stop_fd` becomes readable (kOk), or
// something fails (an error naming it).
Status RunVmNetwork(const VmNetworkOptions& options, int stop_fd);

}  // namespace clawvisor::slirp
