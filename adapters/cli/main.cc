#include "adapters/cli/commands.h"

int main(int argc, char** argv) { return clawvisor::cli::Main(argc, argv); }
