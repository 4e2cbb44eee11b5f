#pragma once

// The subcommands of the `clawvisor` binary, one file each (main.cc dispatches on the first
// word). Each takes the words after its own name, prints its --help text on request, and returns
// the process's exit code (cli_support.h). The long-running ones (serve, reconcile, api,
// processor, project) block the stop signals first and must be called from the main thread
// before any other thread exists.

#include <string>
#include <vector>

namespace clawvisor::cli {

using Args = std::vector<std::string>;

int Serve(const Args& args);             // serve_command.cc
int Events(const Args& args);            // events_command.cc: events dump|tail
int Projections(const Args& args);       // projections_command.cc: projections rebuild|verify
int Vault(const Args& args);             // vault_command.cc: vault rotate-master-key
int Reconcile(const Args& args);         // reconcile_command.cc
int KafkaCommand(const Args& args);      // kafka_command.cc: kafka init
int ApiService(const Args& args);        // kafka_services.cc: api
int ProcessorService(const Args& args);  // kafka_services.cc: processor
int ProjectService(const Args& args);    // kafka_services.cc: project
int Audit(const Args& args);             // audit_command.cc: audit export
int VmNetwork(const Args& args);         // vm_network_command.cc: one VM's network stack
int Egress(const Args& args);            // egress_command.cc: the host's egress gateway

}  // namespace clawvisor::cli
