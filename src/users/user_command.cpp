// `respawn user add NAME [--expires DAYS] | token NAME [--expires DAYS] | list |
// revoke NAME [--token-id ID] [--data-dir DIR]`: the operator's commands on DIR/users.db
// (docs/users.md). Safe while the node runs: both open the file through user_store.
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "respawn/users.hpp"

namespace respawn::users {
namespace {

constexpr const char* usage_text =
    "usage: respawn user add NAME [--expires DAYS] [--data-dir DIR]\n"
    "                                  make a user; prints its token (valid DAYS days, else until revoked)\n"
    "       respawn user token NAME [--expires DAYS] [--data-dir DIR]\n"
    "                                  another token for NAME (to rotate: then revoke the old one)\n"
    "       respawn user list [--data-dir DIR]\n"
    "                                  the users (name, created_at, revoked), then their tokens\n"
    "                                  (user, id, created_at, expires_at, revoked)\n"
    "       respawn user revoke NAME [--token-id ID] [--data-dir DIR]\n"
    "                                  all of NAME's tokens, or the one with that id, stop working\n"
    "                                  (within 1 s)\n"
    "DIR defaults to $RESPAWN_DATA_DIR, else ./respawn-data\n";

constexpr long max_expiry_days = 3650;

int usage(const std::string& problem) {
  std::cerr << "respawn user: " << problem << "\n" << usage_text;
  return exit_code::usage;
}

int exit_code_for(user_errc code) {
  switch (code) {
    case user_errc::invalid_name: return exit_code::invalid_name;
    case user_errc::duplicate_name: return exit_code::duplicate_name;
    case user_errc::unknown_user: return exit_code::unknown_user;
    case user_errc::revoked:
    case user_errc::io_error:
    case user_errc::no_randomness: return exit_code::database_error;
  }
  return exit_code::database_error;
}

int fail(const user_error& e) {
  std::cerr << "respawn user: " << e.message << "\n";
  return exit_code_for(e.code);
}

std::string iso8601(std::int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace

std::string default_data_dir() {
  const char* dir = std::getenv("RESPAWN_DATA_DIR");
  return dir != nullptr && *dir != '\0' ? dir : "./respawn-data";
}

std::string users_db_path(const std::string& data_dir) { return data_dir + "/users.db"; }

int user_command(int argc, char** argv) {
  if (argc < 2) return usage("missing subcommand");
  const std::string sub = argv[1];
  if (sub == "help" || sub == "--help" || sub == "-h") {
    std::cout << usage_text;
    return exit_code::ok;
  }
  std::vector<std::string> positional;
  std::string data_dir = default_data_dir();
  std::optional<std::chrono::seconds> expires_in;
  std::string token_id;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--expires" && (sub == "add" || sub == "token")) {
      char* end = nullptr;
      long days = i + 1 < argc ? std::strtol(argv[i + 1], &end, 10) : 0;
      if (i + 1 >= argc || *end != '\0' || days < 1 || days > max_expiry_days) {
        return usage("--expires needs days, 1 to " + std::to_string(max_expiry_days));
      }
      expires_in = std::chrono::hours{24 * days};
      ++i;
    } else if (a == "--token-id" && sub == "revoke") {
      if (i + 1 >= argc) return usage("--token-id needs an id (respawn user list shows them)");
      token_id = argv[++i];
    } else if (a == "--data-dir") {
      if (i + 1 >= argc) return usage("--data-dir needs a directory");
      data_dir = argv[++i];
    } else if (a.rfind("--data-dir=", 0) == 0) {
      data_dir = a.substr(11);
    } else if (a.rfind("--", 0) == 0) {
      return usage("unknown option " + a);
    } else {
      positional.push_back(a);
    }
  }
  const std::size_t wanted = sub == "list" ? 0 : 1;
  if (sub != "add" && sub != "token" && sub != "list" && sub != "revoke") return usage("unknown subcommand " + sub);
  if (positional.size() != wanted) {
    return usage(wanted == 0 ? "list takes no NAME" : sub + " takes exactly one NAME");
  }
  if (wanted == 1 && !valid_user_name(positional[0])) {
    return fail({user_errc::invalid_name,
                 "invalid user name \"" + positional[0] + "\": use 1 to 64 of A-Z a-z 0-9 _ . -"});
  }
  // The database and its -wal and -shm files are for the node's user only (docs/users.md).
  ::umask(077);
  // Only `add` may create the data directory: list and revoke on a mistyped DIR should say so.
  if (sub == "add" && ::mkdir(data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail({user_errc::io_error,
                 "cannot create data directory " + data_dir + ": " + std::strerror(errno)});
  }
  struct stat st{};
  if (::stat(data_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail({user_errc::io_error, "no data directory " + data_dir +
                                          " (set --data-dir or RESPAWN_DATA_DIR)"});
  }
  auto store = user_store::open(users_db_path(data_dir));
  if (!store) return fail(store.error());

  if (sub == "add" || sub == "token") {
    auto token = sub == "add" ? store.value()->add(positional[0], expires_in)
                              : store.value()->add_token(positional[0], expires_in);
    if (!token) return fail(token.error());
    std::cout << token.value() << "\n";
    return exit_code::ok;
  }
  if (sub == "revoke") {
    if (!token_id.empty()) {
      auto revoked = store.value()->revoke_token(positional[0], token_id);
      if (!revoked) return fail(revoked.error());
      std::cerr << "token " << token_id << " of " << positional[0]
                << (revoked.value() ? " revoked" : " was already revoked") << "\n";
      return exit_code::ok;
    }
    auto revoked = store.value()->revoke(positional[0]);
    if (!revoked) return fail(revoked.error());
    std::cerr << "user " << positional[0] << (revoked.value() ? " revoked" : " was already revoked")
              << "\n";
    return exit_code::ok;
  }
  auto users = store.value()->list();
  if (!users) return fail(users.error());
  std::cout << "NAME\tCREATED_AT\tREVOKED\n";
  for (const auto& u : users.value()) {
    std::cout << u.name << "\t" << iso8601(u.created_at_ms) << "\t" << (u.revoked ? "yes" : "no")
              << "\n";
  }
  auto tokens = store.value()->list_tokens();
  if (!tokens) return fail(tokens.error());
  std::cout << "\nUSER\tTOKEN_ID\tCREATED_AT\tEXPIRES_AT\tREVOKED\n";
  for (const auto& t : tokens.value()) {
    std::cout << t.user << "\t" << t.id << "\t" << iso8601(t.created_at_ms) << "\t"
              << (t.expires_at_ms == 0 ? std::string{"never"} : iso8601(t.expires_at_ms)) << "\t"
              << (t.revoked ? "yes" : "no") << "\n";
  }
  return exit_code::ok;
}

}  // namespace respawn::users
