#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <iostream>

#include "adapters/cli/cli_support.h"
#include "adapters/cli/flags.h"
#include "adapters/cli/subcommands.h"
#include "adapters/slirp/vm_network.h"
#include "engine/domain/ids.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kVmNetworkHelp = R"(Usage: clawvisor vm-network [flags]

One microVM's network stack (libslirp), run by the QEMU driver beside each VM it starts with
networking: QEMU carries the guest's frames over a Unix socket (-netdev stream); this process
forwards 127.0.0.1:PORT to the guest's 18789 and hands the guest's connections to 10.0.2.100
(3128 proxy, 443 TLS) to the host's egress gateway. Nothing else leaves the guest.
Ends when QEMU closes the socket, or on SIGTERM/SIGINT.

Flags:
  --account ID           the VM's account id
  --instance ID          the VM's instance id
  --qemu-socket PATH     QEMU's -netdev stream socket (server=on)
  --forward-port PORT    the loopback port forwarded to the guest's 18789
  --egress-socket PATH   the egress gateway's handoff socket (omit: no way out at all)
  --listen-dir DIR       where the per-port egress sockets are made (the VM's directory)
  --help                 this help
)";

}  // namespace

int VmNetwork(const Args& args) {
  auto flags = Flags::Parse(args, {{"account"},
                                   {"instance"},
                                   {"qemu-socket"},
                                   {"forward-port"},
                                   {"egress-socket"},
                                   {"listen-dir"},
                                   {"help", false}});
  if (!flags) return UsageError(flags.error().message, kVmNetworkHelp);
  if (flags->Has("help")) {
    std::cout << kVmNetworkHelp;
    return kExitOk;
  }
  slirp::VmNetworkOptions options;
  options.key = {flags->GetOr("account", ""), flags->GetOr("instance", "")};
  if (!IsValidResourceId(options.key.account_id) || !IsValidResourceId(options.key.instance_id)) {
    return UsageError("--account and --instance must be valid ids", kVmNetworkHelp);
  }
  options.qemu_socket = flags->GetOr("qemu-socket", "");
  options.listen_dir = flags->GetOr("listen-dir", "");
  options.egress_socket = flags->GetOr("egress-socket", "");
  if (options.qemu_socket.empty()) return UsageError("--qemu-socket is required", kVmNetworkHelp);
  if (!options.egress_socket.empty() && options.listen_dir.empty()) {
    return UsageError("--egress-socket needs --listen-dir", kVmNetworkHelp);
  }
  auto port = flags->GetInt("forward-port", 0, 1, 65535);
  if (!port) return UsageError(port.error().message, kVmNetworkHelp);
  options.forward_port = static_cast<uint16_t>(*port);

  sigset_t signals;
  BlockServiceSignals(signals);
  const int stop_fd = ::signalfd(-1, &signals, SFD_CLOEXEC);
  if (stop_fd < 0) return Fail({Errc::kInternal, "signalfd failed"});
  auto ran = slirp::RunVmNetwork(options, stop_fd);
  ::close(stop_fd);
  if (!ran) return Fail(ran.error());
  return kExitOk;
}

}  // namespace clawvisor::cli
