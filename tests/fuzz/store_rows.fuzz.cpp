// Fuzz target: the SQLite store's reading of its own rows (src/store/sqlite_job_store.cpp): a
// job's `state` JSON and status, an event's `type` and `payload`. The node trusts nothing it reads
// back: a damaged or hand-edited database must give a store error (a value: 503 at the API,
// a refusal at recovery), never a crash. The store's parsing is private, so the target writes the
// fuzzed bytes into a real database through a second connection and reads them back through the
// store's public reads (get, events, list, list_unfinished).
//
// Input: the first byte picks the column the rest of the bytes replace:
//   0 jobs.state of job 1   1 events.payload of job 1's `claimed`   2 events.type of that event
//   3 jobs.status of job 1 (the column list and list_unfinished filter by)
#include <sqlite3.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "respawn/jobs/event.hpp"
#include "store/sqlite_job_store.hpp"

namespace {

namespace fs = std::filesystem;
namespace jobs = respawn::jobs;
namespace store = respawn::store;

void must(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "store_rows fuzz setup: %s\n", what);
    std::abort();
  }
}

struct world {
  std::unique_ptr<store::sqlite_job_store> store;
  sqlite3* raw = nullptr;
  std::string good_state;  // job 1's state row as the store wrote it
  sqlite3_stmt* statements[4] = {};
};

world* make_world() {
  auto* w = new world;  // lives as long as the fuzzer
  const char* base = fs::exists("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string dir = std::string(base) + "/respawn-fuzz-store-XXXXXX";
  must(::mkdtemp(dir.data()) != nullptr, "mkdtemp");
  static const std::string* removed_at_exit = new std::string(dir);
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(*removed_at_exit, ec);
  });
  store::sqlite_options o;
  o.path = dir + "/jobs.db";
  o.synchronous = store::sqlite_options::synchronous_mode::off;
  auto s = store::sqlite_job_store::open(o);
  must(s.ok(), "open the store");
  w->store = std::move(s).value();
  auto id = w->store->allocate_id();
  must(id.ok() && id.value() == 1, "allocate_id");
  jobs::job_request r;
  r.user = "ann";
  r.kind = "sum";
  r.args = {{"n", 3}};
  const auto t = jobs::from_microseconds(1'700'000'000'000'000);
  must(w->store->submit({{.id = 1, .request = r, .time = t}}).ok(), "submit");
  must(w->store->append({jobs::make_claimed(1, 2, t, 1)}).ok(), "append");
  auto state = w->store->get(1);
  must(state.ok(), "get");

  must(sqlite3_open_v2(o.path.c_str(), &w->raw, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK, "open raw");
  sqlite3_busy_timeout(w->raw, 5000);
  const char* sql[4] = {
      "UPDATE jobs SET state = ?1 WHERE id = 1",
      "UPDATE events SET payload = ?1 WHERE job_id = 1 AND sequence = 2",
      "UPDATE events SET type = ?1 WHERE job_id = 1 AND sequence = 2",
      "UPDATE jobs SET status = ?1 WHERE id = 1",
  };
  for (int i = 0; i < 4; ++i) {
    must(sqlite3_prepare_v2(w->raw, sql[i], -1, &w->statements[i], nullptr) == SQLITE_OK, "prepare");
  }
  // The pristine columns, to put back before each run.
  sqlite3_stmt* read = nullptr;
  must(sqlite3_prepare_v2(w->raw, "SELECT state FROM jobs WHERE id = 1", -1, &read, nullptr) == SQLITE_OK, "select");
  must(sqlite3_step(read) == SQLITE_ROW, "select step");
  w->good_state = reinterpret_cast<const char*>(sqlite3_column_text(read, 0));
  sqlite3_finalize(read);
  return w;
}

world& the_world() {
  static world* w = make_world();
  return *w;
}

void set(world& w, int which, std::string_view text) {
  sqlite3_stmt* s = w.statements[which];
  sqlite3_reset(s);
  sqlite3_bind_text(s, 1, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  must(sqlite3_step(s) == SQLITE_DONE, "update");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  the_world();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto& w = the_world();
  const int which = data[0] % 4;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  set(w, 0, w.good_state);
  set(w, 1, "{\"attempt\":1}");
  set(w, 2, "claimed");
  set(w, 3, "running");
  set(w, which, text);

  // Each read answers a value or a store error; none may throw or crash.
  auto got = w.store->get(1);
  if (got.ok() && got.value().request.user.empty() && which != 0) std::abort();
  auto events = w.store->events(1, 0, 100);
  if (events.ok() && which != 1 && which != 2 && events.value().size() != 2) std::abort();  // submitted, claimed
  store::job_filter filter;
  filter.user = "ann";
  (void)w.store->list(filter);
  (void)w.store->list_unfinished(0, 100);
  return 0;
}
