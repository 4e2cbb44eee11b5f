#include "adapters/cli/commands.h"

#include <cstdio>

namespace clawvisor::cli {

int Main(int, char**) {
  std::puts("clawvisor: under construction");
  return kExitOk;
}

}  // namespace clawvisor::cli
