// respawn-client-cli: a test binary that calls the entry points the main `respawn` binary will
// dispatch to (the lead wires them into src/cli): `respawn-client-cli user ...` runs
// user_command, `respawn-client-cli submit|watch|jobs|cancel ...` runs client_command.
#include <cstdio>
#include <cstring>

#include "respawn/client.hpp"
#include "respawn/users.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s user|submit|watch|jobs|cancel ...\n", argv[0]);
    return 64;
  }
  if (std::strcmp(argv[1], "user") == 0) return respawn::users::user_command(argc - 1, argv + 1);
  return respawn::client::client_command(argc - 1, argv + 1);
}
