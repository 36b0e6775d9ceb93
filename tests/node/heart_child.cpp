// heart_child: a stand-in node for heart's tests. Each start appends a byte to STARTS_FILE (its
// size is then this start's number) and writes "start N" to REPORT_FD (a pipe the test reads),
// then behaves by MODE:
//   crash         exits with code 3 at once, every time
//   crash-twice   aborts on its first two starts; then beats until SIGTERM, says "drained", exits 0
//   hang-once     on its first start never beats (a hung node); then as crash-twice's third start
//   config        exits 78 (a configuration error: heart must not start it again)
//   ignore-term   beats and ignores SIGTERM (a node whose drain never ends)
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <unistd.h>

#include "heart.hpp"

namespace {
volatile std::sig_atomic_t stop = 0;
void on_term(int) { stop = 1; }
void report(int fd, const std::string& line) { static_cast<void>(::write(fd, line.data(), line.size())); }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return 64;
  std::string mode = argv[1];
  int fd = std::atoi(argv[2]);
  int starts = 0;
  if (FILE* f = std::fopen(argv[3], "a")) {
    std::fputc('x', f);
    std::fflush(f);
    starts = static_cast<int>(std::ftell(f));
    std::fclose(f);
  }
  std::signal(SIGTERM, mode == "ignore-term" ? SIG_IGN : on_term);
  int beat = respawn::node::heart_fd_from_environment();
  report(fd, "start " + std::to_string(starts) + "\n");
  if (mode == "crash") return 3;
  if (mode == "config") return 78;
  if (mode == "crash-twice" && starts <= 2) std::abort();
  if (mode == "hang-once" && starts == 1) {
    while (stop == 0) ::pause();  // alive, but no heartbeat
    return 0;
  }
  while (stop == 0) {
    if (beat >= 0) static_cast<void>(::write(beat, "b", 1));
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  report(fd, "drained\n");
  return 0;
}
