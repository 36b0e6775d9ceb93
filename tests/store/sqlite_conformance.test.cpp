// The SQLite backend under the seam's conformance suite: a file in a temporary directory (the
// real configuration: WAL, synchronous=FULL) and a private in-memory database.
#include "conformance.hpp"
#include "store/sqlite_job_store.hpp"

namespace respawn::store::testing {
namespace {

std::unique_ptr<job_store> open_sqlite(const std::string& path) {
  auto r = sqlite_job_store::open({.path = path});
  if (!r.ok()) {
    ADD_FAILURE() << "cannot open " << path << ": " << r.error().message;
    return nullptr;
  }
  return std::move(r).value();
}

INSTANTIATE_TEST_SUITE_P(
    Sqlite, JobStoreConformance,
    ::testing::Values(
        store_backend{.name = "file",
                      .open = [](const std::filesystem::path& dir) {
                        return open_sqlite((dir / "jobs.db").string());
                      },
                      .durable = true},
        store_backend{.name = "memory",
                      .open = [](const std::filesystem::path&) { return open_sqlite(":memory:"); },
                      .durable = false}),
    [](const ::testing::TestParamInfo<store_backend>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace respawn::store::testing
