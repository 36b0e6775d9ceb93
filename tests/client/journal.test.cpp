// Tests of the client's journal: an entry is on disk before begin() returns; a re-run takes over
// the unfinished entry of an ended client (and only that); finished and abandoned entries go.
#include "journal.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "store/temp_dir.hpp"

namespace respawn::client {
namespace {

using store::testing::temp_dir;

const journal_owner first_client{1001, 1};
const journal_owner second_client{1002, 2};

bool nobody_alive(const journal_owner&) { return false; }
bool everybody_alive(const journal_owner&) { return true; }

std::vector<journal_entry> entries_of(const journal& j) {
  auto r = j.entries();
  EXPECT_TRUE(std::holds_alternative<std::vector<journal_entry>>(r));
  return std::get<std::vector<journal_entry>>(r);
}

journal::claim begin(journal& j, const std::string& fingerprint, const std::string& key) {
  auto r = j.begin(fingerprint, key);
  if (auto* e = std::get_if<journal_error>(&r)) ADD_FAILURE() << e->message;
  return std::get<journal::claim>(r);
}

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Journal, TheKeyIsOnDiskWhenBeginReturns) {
  temp_dir dir;
  const std::string path = (dir.path() / "state/respawn/journal").string();  // parents made
  journal j(path, first_client, nobody_alive);
  auto c = begin(j, "fp", "key-1");
  EXPECT_FALSE(c.resumed);
  EXPECT_EQ(c.entry.key, "key-1");
  EXPECT_NE(file_text(path).find("\"key-1\""), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Journal, ARerunTakesOverTheUnfinishedEntryOfAnEndedClient) {
  temp_dir dir;
  const std::string path = (dir.path() / "journal").string();
  journal crashed(path, first_client, nobody_alive);
  begin(crashed, "fp", "key-1");
  ASSERT_FALSE(crashed.record_job("key-1", 42).has_value());
  // ... killed here. The same command again:
  journal rerun(path, second_client, nobody_alive);
  auto c = begin(rerun, "fp", "key-2");
  EXPECT_TRUE(c.resumed);
  EXPECT_EQ(c.entry.key, "key-1");
  EXPECT_EQ(c.entry.job_id, 42);
  auto all = entries_of(rerun);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].owner, second_client);  // claimed: a third run must not take it too
}

TEST(Journal, ARunningClientsEntryIsNotTaken) {
  temp_dir dir;
  const std::string path = (dir.path() / "journal").string();
  journal running(path, first_client, everybody_alive);
  begin(running, "fp", "key-1");
  journal concurrent(path, second_client, everybody_alive);
  auto c = begin(concurrent, "fp", "key-2");
  EXPECT_FALSE(c.resumed);
  EXPECT_EQ(c.entry.key, "key-2");
  EXPECT_EQ(entries_of(concurrent).size(), 2u);
}

TEST(Journal, ADifferentCommandGetsAKeyOfItsOwn) {
  temp_dir dir;
  const std::string path = (dir.path() / "journal").string();
  journal crashed(path, first_client, nobody_alive);
  begin(crashed, "fp-a", "key-1");
  journal rerun(path, second_client, nobody_alive);
  auto c = begin(rerun, "fp-b", "key-2");
  EXPECT_FALSE(c.resumed);
  EXPECT_EQ(c.entry.key, "key-2");
}

TEST(Journal, FinishedEntriesArePruned) {
  temp_dir dir;
  const std::string path = (dir.path() / "journal").string();
  journal j(path, first_client, nobody_alive);
  begin(j, "fp", "key-1");
  begin(j, "other", "key-2");
  ASSERT_FALSE(j.finish("key-1").has_value());
  auto all = entries_of(j);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].key, "key-2");
  EXPECT_EQ(file_text(path).find("key-1"), std::string::npos);
  // The same command after a finished one is a new submission.
  journal later(path, second_client, nobody_alive);
  EXPECT_FALSE(begin(later, "fp", "key-3").resumed);
}

TEST(Journal, AbandonedEntriesArePrunedAfterAWeek) {
  temp_dir dir;
  const std::string path = (dir.path() / "journal").string();
  std::ofstream(path) << R"({"version":1,"entries":[{"key":"old","fingerprint":"fp","job_id":null,
    "owner_pid":1,"owner_start_time":1,"created_at_ms":1000}]})";
  journal j(path, first_client, nobody_alive);
  EXPECT_EQ(entries_of(j).size(), 1u);
  begin(j, "other", "new");
  auto all = entries_of(j);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].key, "new");
}

TEST(Journal, AnUnreadableJournalIsAnErrorNotAWipe) {
  temp_dir dir;
  const std::string path = (dir.path() / "journal").string();
  std::ofstream(path) << "garbage";
  journal j(path, first_client, nobody_alive);
  EXPECT_TRUE(std::holds_alternative<journal_error>(j.begin("fp", "k")));
  EXPECT_EQ(file_text(path), "garbage");
}

TEST(Journal, ConcurrentClientsLoseNoEntry) {
  temp_dir dir;
  const std::string path = (dir.path() / "journal").string();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      journal j(path, {2000 + t, 1}, everybody_alive);
      for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(std::holds_alternative<journal::claim>(
            j.begin("fp", "k" + std::to_string(t) + "-" + std::to_string(i))));
      }
    });
  }
  for (auto& th : threads) th.join();
  journal j(path, first_client, everybody_alive);
  EXPECT_EQ(entries_of(j).size(), 40u);
}

// The real owner check: a child process that began a submission and died leaves an entry that
// this process (a different pid) takes over; this process's own live entry is never taken.
TEST(Journal, RecognisesAnEndedProcessAsTheOwner) {
  temp_dir dir;
  const std::string path = (dir.path() / "journal").string();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    journal j(path);
    const bool ok = std::holds_alternative<journal::claim>(j.begin("fp", "child-key"));
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(owner_alive(current_owner()));
  EXPECT_FALSE(owner_alive({child, 1}));
  journal mine(path);
  auto c = begin(mine, "fp", "parent-key");
  EXPECT_TRUE(c.resumed);
  EXPECT_EQ(c.entry.key, "child-key");
}

}  // namespace
}  // namespace respawn::client
