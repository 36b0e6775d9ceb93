// respawn: the node's binary. It is also its own worker (`respawn worker`), because the node
// starts workers by exec'ing its own file: the kinds a worker can run are exactly the kinds this
// file registers, and a rebuilt binary is a new version of both (hot code upgrade reloads it).
// A program with kinds of its own does the same with its registry (docs/job-kinds.md).
#include "respawn/kinds.hpp"

int main(int argc, char** argv) { return respawn::main(argc, argv, respawn::builtin_kinds()); }
