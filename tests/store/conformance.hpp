// The conformance suite of the store seam: every backend must pass it (STYLE.md, after River's
// driver tests). A backend joins by instantiating JobStoreConformance with a store_backend whose
// `open` makes (or reopens) a store kept in the given directory; see sqlite_conformance.test.cpp,
// and docs/store.md, "Adding a backend".
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "store/job_store.hpp"
#include "temp_dir.hpp"

namespace respawn::store::testing {

struct store_backend {
  std::string name{};  // a gtest-friendly name: letters, digits, underscores
  std::function<std::unique_ptr<job_store>(const std::filesystem::path& dir)> open{};
  bool durable = true;  // reopening on the same directory sees everything committed before
};

class JobStoreConformance : public ::testing::TestWithParam<store_backend> {
 protected:
  void SetUp() override;
  void TearDown() override { store_.reset(); }
  void reopen();
  job_store& store() { return *store_; }

  // A stored job (asserts success); returns its id.
  job_id submit_one(const std::string& user, const std::string& kind,
                    std::optional<std::string> idempotency_key = std::nullopt,
                    std::int32_t priority = 0);
  // Appends the next event of `type` to the job, built for its current state (asserts success).
  void advance(job_id id, jobs::event_type type);

  temp_dir dir_;
  std::unique_ptr<job_store> store_{};
};

}  // namespace respawn::store::testing
