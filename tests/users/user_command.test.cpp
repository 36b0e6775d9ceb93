// Tests of `respawn user ...` (user_command): what it prints and its exit codes (docs/users.md).
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "respawn/users.hpp"
#include "store/temp_dir.hpp"

namespace respawn::users {
namespace {

using store::testing::temp_dir;

struct outcome {
  int code;
  std::string out;
  std::string err;
};

outcome run(std::initializer_list<std::string> words) {
  std::vector<std::string> storage{"user"};
  storage.insert(storage.end(), words);
  std::vector<char*> argv;
  for (auto& w : storage) argv.push_back(w.data());
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  const int code = user_command(static_cast<int>(argv.size()), argv.data());
  std::string out = testing::internal::GetCapturedStdout();
  std::string err = testing::internal::GetCapturedStderr();
  return {code, out, err};
}

TEST(UserCommand, AddPrintsATokenThatAuthenticates) {
  temp_dir dir;
  const std::string data = (dir.path() / "data").string();  // created by add
  auto added = run({"add", "alice", "--data-dir", data});
  ASSERT_EQ(added.code, exit_code::ok) << added.err;
  ASSERT_EQ(added.out.size(), 37u);  // a UUID and a newline
  auto store = user_store::open(users_db_path(data));
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store.value()->authenticate(added.out.substr(0, 36)), "alice");
}

TEST(UserCommand, ListsAndRevokes) {
  temp_dir dir;
  const std::string data = dir.path().string();
  ASSERT_EQ(run({"add", "alice", "--data-dir", data}).code, exit_code::ok);
  ASSERT_EQ(run({"add", "bob", "--data-dir=" + data}).code, exit_code::ok);
  EXPECT_EQ(run({"revoke", "bob", "--data-dir", data}).code, exit_code::ok);
  auto listed = run({"list", "--data-dir", data});
  ASSERT_EQ(listed.code, exit_code::ok);
  EXPECT_NE(listed.out.find("alice\t"), std::string::npos);
  EXPECT_NE(listed.out.find("\tno\n"), std::string::npos);
  EXPECT_NE(listed.out.find("bob\t"), std::string::npos);
  EXPECT_NE(listed.out.find("\tyes\n"), std::string::npos);
}

TEST(UserCommand, ExitCodesTellTheProblemApart) {
  temp_dir dir;
  const std::string data = dir.path().string();
  ASSERT_EQ(run({"add", "alice", "--data-dir", data}).code, exit_code::ok);
  auto dup = run({"add", "alice", "--data-dir", data});
  EXPECT_EQ(dup.code, exit_code::duplicate_name);
  EXPECT_NE(dup.err.find("already exists"), std::string::npos);
  EXPECT_EQ(run({"add", "bad name", "--data-dir", data}).code, exit_code::invalid_name);
  EXPECT_EQ(run({"revoke", "nobody", "--data-dir", data}).code, exit_code::unknown_user);
  EXPECT_EQ(run({"frobnicate"}).code, exit_code::usage);
  EXPECT_EQ(run({"add"}).code, exit_code::usage);
  EXPECT_EQ(run({"list", "--bogus"}).code, exit_code::usage);
  EXPECT_EQ(run({"list", "--data-dir", data + "/missing"}).code, exit_code::database_error);
}

TEST(UserCommand, DataDirComesFromTheEnvironment) {
  temp_dir dir;
  ::setenv("RESPAWN_DATA_DIR", dir.path().c_str(), 1);
  EXPECT_EQ(default_data_dir(), dir.path().string());
  EXPECT_EQ(run({"add", "carol"}).code, exit_code::ok);
  ::unsetenv("RESPAWN_DATA_DIR");
  EXPECT_EQ(default_data_dir(), "./respawn-data");
  auto store = user_store::open(users_db_path(dir.path().string()));
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store.value()->list().value().size(), 1u);
}

}  // namespace
}  // namespace respawn::users

namespace respawn::users {
namespace {

// Issue 12 (F16): `add --expires`, `token`, `list` with token ids and expiry, `revoke --token-id`.
TEST(UserCommand, TokensExpireAreListedWithIdsAndAreRevokedOneByOne) {
  temp_dir dir;
  const std::string data = dir.path().string();
  auto first = run({"add", "carol", "--expires", "30", "--data-dir", data});
  ASSERT_EQ(first.code, exit_code::ok) << first.err;
  auto second = run({"token", "carol", "--data-dir", data});
  ASSERT_EQ(second.code, exit_code::ok) << second.err;
  std::string first_token = first.out.substr(0, 36), second_token = second.out.substr(0, 36);
  std::string first_id = token_sha256(first_token).substr(0, token_id_length);

  auto listed = run({"list", "--data-dir", data});
  ASSERT_EQ(listed.code, exit_code::ok);
  EXPECT_NE(listed.out.find("USER\tTOKEN_ID\tCREATED_AT\tEXPIRES_AT\tREVOKED\n"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("carol\t" + first_id + "\t"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("\tnever\tno\n"), std::string::npos) << "the second token never expires";
  EXPECT_EQ(listed.out.find(first_token), std::string::npos) << "a token is never shown again";

  EXPECT_EQ(run({"revoke", "carol", "--token-id", first_id, "--data-dir", data}).code, exit_code::ok);
  auto store = user_store::open(users_db_path(data));
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store.value()->authenticate(first_token), std::nullopt);
  EXPECT_EQ(store.value()->authenticate(second_token), "carol");
  EXPECT_EQ(run({"revoke", "carol", "--token-id", "ffffffffffff", "--data-dir", data}).code, exit_code::unknown_user);
  EXPECT_EQ(run({"add", "dave", "--expires", "0", "--data-dir", data}).code, exit_code::usage);
  EXPECT_EQ(run({"list", "--token-id", "x", "--data-dir", data}).code, exit_code::usage);
}

}  // namespace
}  // namespace respawn::users
