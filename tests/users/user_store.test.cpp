// Tests of user_store (users.hpp): tokens, hashes on disk, names, revocation, threads, and two
// stores on one file (the node's and the `respawn user` command's).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <regex>
#include <thread>

#include "respawn/users.hpp"
#include "store/temp_dir.hpp"

namespace respawn::users {
namespace {

using store::testing::temp_dir;
using namespace std::chrono_literals;

std::unique_ptr<user_store> open_store(const std::string& path) {
  auto s = user_store::open(path);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return std::move(s).value();
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Tokens, AreRandomUuidV4) {
  const std::regex uuid_v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  auto a = new_token();
  auto b = new_token();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(std::regex_match(a.value(), uuid_v4)) << a.value();
  EXPECT_NE(a.value(), b.value());
}

TEST(Tokens, HashIsSha256Hex) {
  EXPECT_EQ(token_sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(UserNames, AllowOnlyTheDocumentedCharacters) {
  EXPECT_TRUE(valid_user_name("alice"));
  EXPECT_TRUE(valid_user_name("A.b_c-9"));
  EXPECT_TRUE(valid_user_name(std::string(64, 'x')));
  EXPECT_FALSE(valid_user_name(""));
  EXPECT_FALSE(valid_user_name(std::string(65, 'x')));
  EXPECT_FALSE(valid_user_name("bob smith"));
  EXPECT_FALSE(valid_user_name("bob/../x"));
  EXPECT_FALSE(valid_user_name("émile"));
}

TEST(UserStore, AddsListsRevokesAndAuthenticates) {
  temp_dir dir;
  auto s = open_store(users_db_path(dir.path().string()));
  auto alice = s->add("alice");
  auto bob = s->add("bob");
  ASSERT_TRUE(alice.ok() && bob.ok());
  EXPECT_EQ(s->authenticate(alice.value()), "alice");
  EXPECT_EQ(s->authenticate(bob.value()), "bob");
  EXPECT_EQ(s->authenticate("not-a-token"), std::nullopt);

  auto users = s->list();
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users.value().size(), 2u);
  EXPECT_EQ(users.value()[0].name, "alice");
  EXPECT_FALSE(users.value()[0].revoked);
  EXPECT_GT(users.value()[0].created_at_ms, 1'600'000'000'000);

  auto revoked = s->revoke("alice");
  ASSERT_TRUE(revoked.ok());
  EXPECT_TRUE(revoked.value());
  EXPECT_EQ(s->authenticate(alice.value()), std::nullopt);  // at once: same store
  EXPECT_EQ(s->authenticate(bob.value()), "bob");
  auto again = s->revoke("alice");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again.value());
  EXPECT_TRUE(s->list().value()[0].revoked);
}

TEST(UserStore, StoresHashesNotTokens) {
  temp_dir dir;
  const std::string path = users_db_path(dir.path().string());
  std::string token;
  {
    auto s = open_store(path);
    token = s->add("alice").value();
  }
  // The raw bytes of the database and its WAL never hold the token.
  EXPECT_EQ(file_bytes(path).find(token), std::string::npos);
  EXPECT_EQ(file_bytes(path + "-wal").find(token), std::string::npos);
  // What is there is its SHA-256.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT token_sha256, user_name FROM tokens", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), token_sha256(token));
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)), "alice");
  sqlite3_finalize(st);
  sqlite3_stmt* mode = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &mode, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(mode), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(mode, 0)), "wal");
  sqlite3_finalize(mode);
  sqlite3_close(db);
}

TEST(UserStore, RejectsDuplicateInvalidAndUnknownNames) {
  temp_dir dir;
  auto s = open_store(users_db_path(dir.path().string()));
  ASSERT_TRUE(s->add("alice").ok());
  auto dup = s->add("alice");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, user_errc::duplicate_name);
  ASSERT_TRUE(s->revoke("alice").ok());
  EXPECT_EQ(s->add("alice").error().code, user_errc::duplicate_name);  // revoked names stay taken
  EXPECT_EQ(s->add("no spaces").error().code, user_errc::invalid_name);
  EXPECT_EQ(s->add("").error().code, user_errc::invalid_name);
  EXPECT_EQ(s->revoke("nobody").error().code, user_errc::unknown_user);
  EXPECT_EQ(s->list().value().size(), 1u);
}

TEST(UserStore, EnsureMakesTheDemoUserThenAddsFreshTokens) {
  temp_dir dir;
  auto s = open_store(users_db_path(dir.path().string()));
  auto first = s->ensure("demo");
  auto second = s->ensure("demo");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first.value(), second.value());
  EXPECT_EQ(s->authenticate(first.value()), "demo");  // the old token keeps working
  EXPECT_EQ(s->authenticate(second.value()), "demo");
  ASSERT_TRUE(s->revoke("demo").ok());
  EXPECT_EQ(s->ensure("demo").error().code, user_errc::revoked);
}

TEST(UserStore, WritesTokenFilesOnlyItsOwnerCanRead) {
  temp_dir dir;
  const std::string path = (dir.path() / "demo.token").string();
  ASSERT_TRUE(write_token_file(path, "t-1").ok());
  ASSERT_TRUE(write_token_file(path, "t-2").ok());
  EXPECT_EQ(file_bytes(path), "t-2\n");
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// A revoke made through another store (the CLI while the node runs) reaches this store's
// cache within revocation_delay.
TEST(UserStore, RevokeThroughAnotherStoreTakesEffectWithinTheDelay) {
  temp_dir dir;
  const std::string path = users_db_path(dir.path().string());
  auto node = open_store(path);
  auto cli = open_store(path);
  const std::string token = cli->add("alice").value();
  ASSERT_EQ(node->authenticate(token), "alice");  // now cached
  const auto revoked_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(cli->revoke("alice").value());
  const auto deadline = revoked_at + user_store::revocation_delay + 2s;
  while (node->authenticate(token).has_value()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "revoke never reached the node";
    std::this_thread::yield();
  }
  EXPECT_LE(std::chrono::steady_clock::now() - revoked_at, user_store::revocation_delay + 500ms);
}

// Review F27: the cache used to be emptied whole at 4,096 answers, so a flood of made-up tokens
// evicted every real user's answer (and sent each of them to the database, under one mutex).
TEST(UserStore, AFloodOfMadeUpTokensNeverEvictsARealUsersCachedAnswer) {
  temp_dir dir;
  auto users = open_store(users_db_path(dir.path().string()));
  const std::string token = users->add("alice").value();
  ASSERT_EQ(users->authenticate(token), "alice");
  ASSERT_EQ(users->cached_answers().known, 1u);
  for (std::size_t i = 0; i < user_store::cache_capacity + user_store::refused_cache_capacity; ++i) {
    ASSERT_FALSE(users->authenticate("made-up-" + std::to_string(i)).has_value());
  }
  auto counts = users->cached_answers();
  EXPECT_EQ(counts.known, 1u) << "alice's answer was evicted by tokens that name nobody";
  EXPECT_LE(counts.refused, user_store::refused_cache_capacity);
  EXPECT_EQ(users->authenticate(token), "alice");
}

TEST(UserStore, AuthenticatesFromManyThreadsWhileUsersChange) {
  temp_dir dir;
  const std::string path = users_db_path(dir.path().string());
  auto node = open_store(path);
  auto cli = open_store(path);
  std::vector<std::string> tokens;
  for (int i = 0; i < 8; ++i) tokens.push_back(cli->add("u" + std::to_string(i)).value());
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::atomic<long> calls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      while (!stop.load()) {
        // users u0..u3 are never revoked; each must always be recognised.
        const int i = t % 4;
        if (node->authenticate(tokens[static_cast<std::size_t>(i)]) != "u" + std::to_string(i)) {
          ++wrong;
        }
        if (node->authenticate("bogus-" + std::to_string(calls.load() % 50)).has_value()) ++wrong;
        ++calls;
      }
    });
  }
  // Meanwhile the other store writes: new users, revokes (the busy timeout keeps both safe).
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(cli->add("extra" + std::to_string(i)).ok());
  for (int i = 4; i < 8; ++i) ASSERT_TRUE(cli->revoke("u" + std::to_string(i)).ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(node->add("node" + std::to_string(i)).ok());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (calls.load() < 20000 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  stop = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(node->list().value().size(), 48u);
}

TEST(UserStore, TwoStoresWriteOneFileAtOnce) {
  temp_dir dir;
  const std::string path = users_db_path(dir.path().string());
  auto a = open_store(path);
  auto b = open_store(path);
  std::atomic<int> failures{0};
  std::thread ta([&] {
    for (int i = 0; i < 50; ++i) failures += a->add("a" + std::to_string(i)).ok() ? 0 : 1;
  });
  std::thread tb([&] {
    for (int i = 0; i < 50; ++i) failures += b->add("b" + std::to_string(i)).ok() ? 0 : 1;
  });
  ta.join();
  tb.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(a->list().value().size(), 100u);
  const std::string token = a->add("shared").value();
  EXPECT_EQ(b->authenticate(token), "shared");
}

}  // namespace
}  // namespace respawn::users

namespace respawn::users {
namespace {

// Issue 12 (F16): a token can expire, and one token can be revoked without the others.
TEST(UserStore, AnExpiredTokenIsRefusedAndOneTokenCanBeRevokedAlone) {
  temp_dir dir;
  auto s = open_store(users_db_path(dir.path().string()));
  auto expired = s->add("bob", std::chrono::seconds{0});  // expires the moment it is made
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(s->authenticate(expired.value()), std::nullopt) << "an expired token lets no one in";
  auto lasting = s->add_token("bob", std::chrono::hours{24 * 30});
  ASSERT_TRUE(lasting.ok());
  EXPECT_EQ(s->authenticate(lasting.value()), "bob");
  auto forever = s->add_token("bob");
  ASSERT_TRUE(forever.ok());

  auto tokens = s->list_tokens();
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens.value().size(), 3u);
  std::string lasting_id = token_sha256(lasting.value()).substr(0, token_id_length);
  bool seen = false;
  for (const auto& t : tokens.value()) {
    EXPECT_EQ(t.user, "bob");
    EXPECT_EQ(t.id.size(), token_id_length);
    if (t.id == lasting_id) {
      seen = true;
      EXPECT_GT(t.expires_at_ms, t.created_at_ms);
    }
  }
  EXPECT_TRUE(seen);

  auto revoked = s->revoke_token("bob", lasting_id);
  ASSERT_TRUE(revoked.ok());
  EXPECT_TRUE(revoked.value());
  EXPECT_EQ(s->authenticate(lasting.value()), std::nullopt) << "the revoked token";
  EXPECT_EQ(s->authenticate(forever.value()), "bob") << "the user's other token still works";
  EXPECT_FALSE(s->revoke_token("bob", lasting_id).value()) << "already revoked";
  auto unknown = s->revoke_token("bob", "000000000000");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, user_errc::unknown_user);
  auto not_a_user = s->add_token("nobody");
  ASSERT_FALSE(not_a_user.ok());
  EXPECT_EQ(not_a_user.error().code, user_errc::unknown_user);
}

// A users.db made before tokens could expire gets the new columns, and its tokens keep working.
TEST(UserStore, AnOlderDatabaseGetsTheTokenColumns) {
  temp_dir dir;
  auto path = users_db_path(dir.path().string());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  std::string hash = token_sha256("old-token");
  std::string sql =
      "CREATE TABLE users (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL, revoked_at INTEGER) WITHOUT ROWID;"
      "CREATE TABLE tokens (token_sha256 TEXT PRIMARY KEY, user_name TEXT NOT NULL REFERENCES users(name),"
      " created_at INTEGER NOT NULL) WITHOUT ROWID;"
      "INSERT INTO users VALUES ('old', 1, NULL);"
      "INSERT INTO tokens VALUES ('" + hash + "', 'old', 1);";
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = open_store(path);
  EXPECT_EQ(s->authenticate("old-token"), "old");
  ASSERT_TRUE(s->revoke_token("old", hash.substr(0, token_id_length)).ok());
  EXPECT_EQ(s->authenticate("old-token"), std::nullopt);
}

}  // namespace
}  // namespace respawn::users
