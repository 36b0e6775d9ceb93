// users: who may use a Respawn node. An operator makes a user with `respawn user add NAME`, which
// prints a token (a random UUID v4); clients send it as `Authorization: Bearer TOKEN`. Only the
// token's SHA-256 is stored (DIR/users.db, SQLite in WAL mode), so a copy of the database does not
// let anyone in. The node and the `respawn user` command open the same file at once: SQLite's
// locking with a busy timeout keeps that safe, and the node's authenticate() sees a revoke made by
// the command within `revocation_delay` (docs/users.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "respawn/value_or_error.hpp"

namespace respawn::users {

// What can go wrong, as values (one enum for the domain).
enum class user_errc : std::uint8_t {
  invalid_name,    // a name must match [A-Za-z0-9_.-]{1,64}
  duplicate_name,  // add: a user of that name exists (revoked or not)
  unknown_user,    // revoke: no user of that name
  revoked,         // ensure: the user exists but was revoked; an operator must decide
  io_error,        // the database or the file system failed; the message says how
  no_randomness,   // getrandom(2) failed: no token could be made
};

std::string_view to_string(user_errc code);

struct user_error {
  user_errc code = user_errc::io_error;
  std::string message{};
};

// A value, or the user_error that prevented it.
template <class T>
using user_result = value_or_error<T, user_error>;

struct user_info {
  std::string name;
  std::int64_t created_at_ms = 0;  // Unix time, milliseconds
  bool revoked = false;
};

// One token of a user, as `respawn user list` shows it. The id is the first token_id_length hex
// digits of the token's SHA-256: it names the token (for a revoke) without revealing it.
struct token_info {
  std::string user;
  std::string id;
  std::int64_t created_at_ms = 0;
  std::int64_t expires_at_ms = 0;  // 0: never
  bool revoked = false;            // this token, or its whole user
};
inline constexpr std::size_t token_id_length = 12;

// True when `name` matches [A-Za-z0-9_.-]{1,64}.
bool valid_user_name(std::string_view name);

// A random UUID v4 ("xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx", lowercase) from getrandom(2).
user_result<std::string> new_token();

// SHA-256 of `token`, as 64 lowercase hex digits (OpenSSL EVP). A token holds 122 random bits,
// so a fast unsalted hash is enough: unlike a password it cannot be guessed from a dictionary.
std::string token_sha256(std::string_view token);

// The data directory: $RESPAWN_DATA_DIR if set and not empty, else "./respawn-data".
std::string default_data_dir();
// DIR/users.db
std::string users_db_path(const std::string& data_dir);

// Writes `token` and a newline to `path` (mode 0600, through a temporary file and a rename, so a
// reader never sees half a token): for the node's DIR/demo.token.
user_result<bool> write_token_file(const std::string& path, std::string_view token);

class user_store {
 public:
  // How long a cached authenticate() answer is trusted: a revoke made through another
  // user_store (the CLI while the node runs) takes effect within this delay; one made through
  // this store, at once.
  static constexpr std::chrono::milliseconds revocation_delay{1000};

  // Opens (creating it and its schema if needed) the database at `path`; its directory must exist.
  static user_result<std::unique_ptr<user_store>> open(const std::string& path);
  ~user_store();
  user_store(const user_store&) = delete;
  user_store& operator=(const user_store&) = delete;

  // Every member is thread-safe.

  // A new user with a new token; returns the token (it is not stored, only its hash). A token
  // with `expires_in` stops working that long after it was made; without it, only a revoke ends it.
  user_result<std::string> add(std::string_view name,
                               std::optional<std::chrono::seconds> expires_in = std::nullopt);
  // Another token for the existing, unrevoked user `name` (a rotation: revoke the old one after).
  user_result<std::string> add_token(std::string_view name,
                                     std::optional<std::chrono::seconds> expires_in = std::nullopt);
  // Every user, by name.
  user_result<std::vector<user_info>> list();
  // Every token, by user then creation.
  user_result<std::vector<token_info>> list_tokens();
  // Revokes every token of `name`: true if it was revoked now, false if it already was.
  user_result<bool> revoke(std::string_view name);
  // Revokes the one token of `name` whose id is `token_id` (token_info::id): true if it was revoked
  // now, false if it already was; user_errc::unknown_user if `name` has no such token.
  user_result<bool> revoke_token(std::string_view name, std::string_view token_id);
  // The name of the (unrevoked) user whose token this is (itself unrevoked and not expired). Cheap: answers are cached for
  // revocation_delay (at most cache_capacity of them), so most calls take a shared lock and a
  // hash lookup. A database failure counts as "no" (and is not cached).
  std::optional<std::string> authenticate(std::string_view token);
  // For the node's demo user: creates `name` if missing, else adds a fresh token to it (the old
  // tokens stay valid: only their hashes are kept, so the old token cannot be printed again, and a
  // client configured with it should keep working across node restarts). A revoked user stays
  // revoked: user_errc::revoked.
  user_result<std::string> ensure(std::string_view name);

  // Bounds of the authenticate() cache: "yes" answers, and "no" answers apart (a flood of
  // made-up tokens evicts only "no" answers).
  static constexpr std::size_t cache_capacity = 4096;
  static constexpr std::size_t refused_cache_capacity = 1024;
  struct cache_counts {
    std::size_t known = 0;    // cached "yes" answers
    std::size_t refused = 0;  // cached "no" answers
  };
  // For tests and introspection. thread-safe.
  cache_counts cached_answers() const;

 private:
  struct impl;
  explicit user_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

// `respawn user add|list|revoke ...`: argv[0] is "user". Returns the exit code (docs/users.md):
// 0 done, 3 invalid name, 4 duplicate name, 5 unknown user, 6 database error, 64 usage.
int user_command(int argc, char** argv);

namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int invalid_name = 3;
inline constexpr int duplicate_name = 4;
inline constexpr int unknown_user = 5;
inline constexpr int database_error = 6;
inline constexpr int usage = 64;  // EX_USAGE, as the rest of the respawn binary
}  // namespace exit_code

}  // namespace respawn::users
