// Tokens: made from getrandom(2), stored only as their SHA-256 (OpenSSL EVP), and written to a
// file for the node's demo user (see users.hpp).
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "respawn/users.hpp"

namespace respawn::users {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

std::string hex(const unsigned char* bytes, std::size_t size) {
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += hex_digits[bytes[i] >> 4];
    out += hex_digits[bytes[i] & 0xf];
  }
  return out;
}

user_error io_failure(const std::string& what) {
  return {user_errc::io_error, what + ": " + std::strerror(errno)};
}

}  // namespace

user_result<std::string> new_token() {
  std::array<unsigned char, 16> bytes{};
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return user_error{user_errc::no_randomness, std::string("getrandom: ") + std::strerror(errno)};
    }
    filled += static_cast<std::size_t>(n);
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // variant 10xx (RFC 4122)
  const std::string h = hex(bytes.data(), bytes.size());
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

std::string token_sha256(std::string_view token) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  // EVP_Digest is one-shot and thread-safe; it fails only on allocation failure, which we treat
  // as the corrupt state it would be (an assertion that stays on).
  const int ok = EVP_Digest(token.data(), token.size(), digest.data(), &size, EVP_sha256(), nullptr);
  if (ok != 1) {
    std::fprintf(stderr, "respawn: SHA-256 failed (OpenSSL EVP_Digest)\n");
    std::abort();
  }
  return hex(digest.data(), size);
}

user_result<bool> write_token_file(const std::string& path, std::string_view token) {
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_failure("cannot create " + temporary);
  std::string text(token);
  text += '\n';
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fchmod(fd, 0600) == 0 && ::fsync(fd) == 0;
  if (!written) {
    user_error e = io_failure("cannot write " + temporary);
    ::close(fd);
    ::unlink(temporary.c_str());
    return e;
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    user_error e = io_failure("cannot rename " + temporary + " to " + path);
    ::unlink(temporary.c_str());
    return e;
  }
  return true;
}

}  // namespace respawn::users
