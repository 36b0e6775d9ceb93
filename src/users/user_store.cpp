// user_store: users and the hashes of their tokens in SQLite (see users.hpp, docs/users.md).
//
// One connection per store, used under a mutex: user operations are rare and short, and
// authenticate() normally answers from its cache without touching the database. Two stores (the
// node's and the `respawn user` command's) on one file are kept apart by SQLite's locks; the busy
// timeout makes a writer wait for the other instead of failing with SQLITE_BUSY.
#include <sqlite3.h>

#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "respawn/users.hpp"
#include "store/sqlite_connection.hpp"

namespace respawn::users {
namespace {

using store::sqlite_connection;
using store::sqlite_failure;
using clock_type = std::chrono::steady_clock;

constexpr int busy_timeout_ms = 5000;

constexpr const char* schema_sql = R"(
CREATE TABLE IF NOT EXISTS users (
  name        TEXT PRIMARY KEY,
  created_at  INTEGER NOT NULL,   -- Unix time, ms
  revoked_at  INTEGER             -- NULL while the user may log in
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens (
  token_sha256 TEXT PRIMARY KEY,  -- hex SHA-256 of the token; the token itself is never stored
  user_name    TEXT NOT NULL REFERENCES users(name),
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,           -- Unix time, ms; NULL: never
  revoked_at   INTEGER            -- NULL while this token may be used
) WITHOUT ROWID;
)";

// A users.db made before tokens could expire or be revoked one by one gets the two columns.
void add_token_columns(sqlite_connection& db) {
  bool expires = false, revoked = false;
  {
    auto s = db.prepare("PRAGMA table_info(tokens)");
    while (s->step()) {
      auto column = s->column_text(1);
      expires = expires || column == "expires_at";
      revoked = revoked || column == "revoked_at";
    }
  }
  if (!expires) db.exec("ALTER TABLE tokens ADD COLUMN expires_at INTEGER");
  if (!revoked) db.exec("ALTER TABLE tokens ADD COLUMN revoked_at INTEGER");
}

std::optional<std::int64_t> expiry(std::int64_t at, std::optional<std::chrono::seconds> expires_in) {
  if (!expires_in) return std::nullopt;
  return at + std::chrono::duration_cast<std::chrono::milliseconds>(*expires_in).count();
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

user_error database_error(const sqlite_failure& f) { return {user_errc::io_error, f.what()}; }

bool is_constraint(const sqlite_failure& f) { return (f.code() & 0xff) == SQLITE_CONSTRAINT; }

// Runs `body` inside BEGIN IMMEDIATE ... COMMIT (IMMEDIATE takes the write lock up front, so two
// writers queue on the busy timeout instead of one failing at its first write), rolling back on
// any exception.
template <class F>
auto in_write_transaction(sqlite_connection& db, F&& body) {
  db.run("BEGIN IMMEDIATE");
  try {
    auto value = body();
    db.run("COMMIT");
    return value;
  } catch (...) {
    db.exec_unfaulted("ROLLBACK");
    throw;
  }
}

}  // namespace

std::string_view to_string(user_errc code) {
  switch (code) {
    case user_errc::invalid_name: return "invalid_name";
    case user_errc::duplicate_name: return "duplicate_name";
    case user_errc::unknown_user: return "unknown_user";
    case user_errc::revoked: return "revoked";
    case user_errc::io_error: return "io_error";
    case user_errc::no_randomness: return "no_randomness";
  }
  return "unknown";
}

bool valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

struct user_store::impl {
  explicit impl(const std::string& path) : db(path, nullptr) {}

  std::mutex db_mutex;  // guards db
  sqlite_connection db;

  struct cached {
    std::optional<std::string> user;
    clock_type::time_point checked_at;
  };
  // Answers are kept apart by kind (review F27): "yes" answers (a user's token) and "no" answers
  // (a made-up or revoked token) each have their own bound, so that a flood of made-up tokens
  // evicts only other "no" answers, never a real user's, and every real user keeps being
  // answered without a database lookup under the one db_mutex.
  std::shared_mutex cache_mutex;  // guards known, refused
  std::unordered_map<std::string, cached> known;    // tokens that name a user
  std::unordered_map<std::string, cached> refused;  // tokens that name nobody

  void forget_cache() {
    std::unique_lock lock(cache_mutex);
    known.clear();
    refused.clear();
  }

  // Makes room in `answers` (under the unique lock): answers older than revocation_delay go
  // first (they would be asked again anyway); if none is that old, one arbitrary entry goes --
  // the keys are SHA-256 digests, so the hash table's first entry is as good as a random one.
  static void make_room(std::unordered_map<std::string, cached>& answers, std::size_t capacity,
                        clock_type::time_point now) {
    if (answers.size() < capacity) return;
    std::erase_if(answers, [&](const auto& entry) { return now - entry.second.checked_at >= revocation_delay; });
    if (answers.size() >= capacity) answers.erase(answers.begin());
  }

  // Inserts a token for `name` (inside a transaction); returns the token.
  std::string insert_token(std::string_view name, const std::string& token, std::int64_t at,
                           std::optional<std::int64_t> expires_at = std::nullopt) {
    auto s = db.prepare(
        "INSERT INTO tokens (token_sha256, user_name, created_at, expires_at) VALUES (?, ?, ?, ?)");
    s->bind(1, std::string_view(token_sha256(token))).bind(2, name).bind(3, at);
    if (expires_at) s->bind(4, *expires_at);
    s->step();
    return token;
  }
};

user_store::user_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
user_store::~user_store() = default;

user_result<std::unique_ptr<user_store>> user_store::open(const std::string& path) {
  try {
    auto p = std::make_unique<impl>(path);
    // The busy timeout first: switching to WAL and creating the schema take locks that the
    // other process may hold at this very moment.
    sqlite3_busy_timeout(p->db.handle(), busy_timeout_ms);
    const std::string mode = p->db.query_text("PRAGMA journal_mode=WAL");
    if (mode != "wal") {
      return user_error{user_errc::io_error, path + ": cannot switch to WAL mode (got " + mode + ")"};
    }
    p->db.exec("PRAGMA foreign_keys=ON");
    in_write_transaction(p->db, [&] {
      p->db.exec(schema_sql);
      add_token_columns(p->db);
      return true;
    });
    return std::unique_ptr<user_store>(new user_store(std::move(p)));
  } catch (const sqlite_failure& f) {
    return database_error(f);
  }
}

user_result<std::string> user_store::add(std::string_view name, std::optional<std::chrono::seconds> expires_in) {
  if (!valid_user_name(name)) {
    return user_error{user_errc::invalid_name,
                      "invalid user name \"" + std::string(name) +
                          "\": use 1 to 64 of A-Z a-z 0-9 _ . -"};
  }
  auto token = new_token();
  if (!token) return token.error();
  std::lock_guard lock(impl_->db_mutex);
  try {
    return in_write_transaction(impl_->db, [&] {
      const std::int64_t at = now_ms();
      auto s = impl_->db.prepare("INSERT INTO users (name, created_at) VALUES (?, ?)");
      s->bind(1, name).bind(2, at);
      s->step();
      return impl_->insert_token(name, token.value(), at, expiry(at, expires_in));
    });
  } catch (const sqlite_failure& f) {
    if (is_constraint(f)) {
      return user_error{user_errc::duplicate_name,
                        "a user named \"" + std::string(name) + "\" already exists"};
    }
    return database_error(f);
  }
}

user_result<std::vector<user_info>> user_store::list() {
  std::lock_guard lock(impl_->db_mutex);
  try {
    std::vector<user_info> users;
    auto s = impl_->db.prepare(
        "SELECT name, created_at, revoked_at IS NOT NULL FROM users ORDER BY name");
    while (s->step()) {
      users.push_back({s->column_text(0), s->column_int64(1), s->column_int64(2) != 0});
    }
    return users;
  } catch (const sqlite_failure& f) {
    return database_error(f);
  }
}

user_result<bool> user_store::revoke(std::string_view name) {
  user_result<bool> outcome = false;
  {
    std::lock_guard lock(impl_->db_mutex);
    try {
      outcome = in_write_transaction(impl_->db, [&]() -> user_result<bool> {
        auto exists = impl_->db.prepare("SELECT revoked_at IS NOT NULL FROM users WHERE name = ?");
        exists->bind(1, name);
        if (!exists->step()) {
          return user_error{user_errc::unknown_user, "no user named \"" + std::string(name) + "\""};
        }
        if (exists->column_int64(0) != 0) return false;
        auto s = impl_->db.prepare("UPDATE users SET revoked_at = ? WHERE name = ?");
        s->bind(1, now_ms()).bind(2, name);
        s->step();
        return true;
      });
    } catch (const sqlite_failure& f) {
      return database_error(f);
    }
  }
  impl_->forget_cache();  // a revoke through this store takes effect at once
  return outcome;
}

std::optional<std::string> user_store::authenticate(std::string_view token) {
  const std::string hash = token_sha256(token);
  const auto now = clock_type::now();
  {
    std::shared_lock lock(impl_->cache_mutex);
    for (auto* answers : {&impl_->known, &impl_->refused}) {
      auto it = answers->find(hash);
      if (it != answers->end() && now - it->second.checked_at < revocation_delay) return it->second.user;
    }
  }
  std::optional<std::string> user;
  try {
    std::lock_guard lock(impl_->db_mutex);
    auto s = impl_->db.prepare(
        "SELECT u.name FROM tokens t JOIN users u ON u.name = t.user_name "
        "WHERE t.token_sha256 = ? AND u.revoked_at IS NULL AND t.revoked_at IS NULL "
        "AND (t.expires_at IS NULL OR t.expires_at > ?)");
    s->bind(1, std::string_view(hash)).bind(2, now_ms());
    if (s->step()) user = s->column_text(0);
  } catch (const sqlite_failure&) {
    return std::nullopt;  // not cached: the next request asks the database again
  }
  std::unique_lock lock(impl_->cache_mutex);
  auto& answers = user ? impl_->known : impl_->refused;
  (user ? impl_->refused : impl_->known).erase(hash);  // an answer that changed kind
  if (!answers.contains(hash)) impl::make_room(answers, user ? cache_capacity : refused_cache_capacity, now);
  answers[hash] = {user, now};
  return user;
}

user_store::cache_counts user_store::cached_answers() const {
  std::shared_lock lock(impl_->cache_mutex);
  return {impl_->known.size(), impl_->refused.size()};
}

user_result<std::string> user_store::add_token(std::string_view name, std::optional<std::chrono::seconds> expires_in) {
  auto token = new_token();
  if (!token) return token.error();
  std::lock_guard lock(impl_->db_mutex);
  try {
    return in_write_transaction(impl_->db, [&]() -> user_result<std::string> {
      auto exists = impl_->db.prepare("SELECT revoked_at IS NOT NULL FROM users WHERE name = ?");
      exists->bind(1, name);
      if (!exists->step()) return user_error{user_errc::unknown_user, "no user named \"" + std::string(name) + "\""};
      if (exists->column_int64(0) != 0) {
        return user_error{user_errc::revoked, "user \"" + std::string(name) + "\" is revoked"};
      }
      const std::int64_t at = now_ms();
      return impl_->insert_token(name, token.value(), at, expiry(at, expires_in));
    });
  } catch (const sqlite_failure& f) {
    return database_error(f);
  }
}

user_result<std::vector<token_info>> user_store::list_tokens() {
  std::lock_guard lock(impl_->db_mutex);
  try {
    std::vector<token_info> tokens;
    auto s = impl_->db.prepare(
        "SELECT t.user_name, substr(t.token_sha256, 1, ?), t.created_at, coalesce(t.expires_at, 0), "
        "t.revoked_at IS NOT NULL OR u.revoked_at IS NOT NULL "
        "FROM tokens t JOIN users u ON u.name = t.user_name ORDER BY t.user_name, t.created_at, t.token_sha256");
    s->bind(1, static_cast<std::int64_t>(token_id_length));
    while (s->step()) {
      tokens.push_back({s->column_text(0), s->column_text(1), s->column_int64(2), s->column_int64(3),
                        s->column_int64(4) != 0});
    }
    return tokens;
  } catch (const sqlite_failure& f) {
    return database_error(f);
  }
}

user_result<bool> user_store::revoke_token(std::string_view name, std::string_view token_id) {
  auto unknown = user_error{user_errc::unknown_user,
                            "user \"" + std::string(name) + "\" has no token " + std::string(token_id)};
  if (token_id.size() != token_id_length ||
      token_id.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return unknown;
  }
  user_result<bool> outcome = false;
  {
    std::lock_guard lock(impl_->db_mutex);
    try {
      outcome = in_write_transaction(impl_->db, [&]() -> user_result<bool> {
        auto found = impl_->db.prepare(
            "SELECT count(*), sum(revoked_at IS NULL) FROM tokens WHERE user_name = ? AND substr(token_sha256, 1, ?) = ?");
        found->bind(1, name).bind(2, static_cast<std::int64_t>(token_id_length)).bind(3, token_id);
        found->step();
        if (found->column_int64(0) == 0) return unknown;
        if (found->column_int64(1) == 0) return false;
        auto s = impl_->db.prepare(
            "UPDATE tokens SET revoked_at = ? WHERE user_name = ? AND substr(token_sha256, 1, ?) = ? "
            "AND revoked_at IS NULL");
        s->bind(1, now_ms()).bind(2, name).bind(3, static_cast<std::int64_t>(token_id_length)).bind(4, token_id);
        s->step();
        return true;
      });
    } catch (const sqlite_failure& f) {
      return database_error(f);
    }
  }
  impl_->forget_cache();
  return outcome;
}

user_result<std::string> user_store::ensure(std::string_view name) {
  if (!valid_user_name(name)) {
    return user_error{user_errc::invalid_name, "invalid user name \"" + std::string(name) + "\""};
  }
  auto token = new_token();
  if (!token) return token.error();
  std::lock_guard lock(impl_->db_mutex);
  try {
    return in_write_transaction(impl_->db, [&]() -> user_result<std::string> {
      const std::int64_t at = now_ms();
      auto exists = impl_->db.prepare("SELECT revoked_at IS NOT NULL FROM users WHERE name = ?");
      exists->bind(1, name);
      if (exists->step()) {
        if (exists->column_int64(0) != 0) {
          return user_error{user_errc::revoked, "user \"" + std::string(name) + "\" is revoked"};
        }
      } else {
        auto s = impl_->db.prepare("INSERT INTO users (name, created_at) VALUES (?, ?)");
        s->bind(1, name).bind(2, at);
        s->step();
      }
      return impl_->insert_token(name, token.value(), at);
    });
  } catch (const sqlite_failure& f) {
    return database_error(f);
  }
}

}  // namespace respawn::users
