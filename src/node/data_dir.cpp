// data_dir.cpp: see data_dir.hpp.
#include "data_dir.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace respawn::node {

namespace fs = std::filesystem;

data_dir_lock& data_dir_lock::operator=(data_dir_lock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

data_dir_lock::~data_dir_lock() {
  if (fd_ >= 0) ::close(fd_);
}

value_or_error<bool, data_dir_error> make_private_dir(const std::string& dir) {
  ::umask(077);  // before anything is created: SQLite creates its files 0644 & ~umask
  auto fail = [&](int err, const std::string& what) {
    return data_dir_error{data_dir_errc::unusable,
                          "cannot use the data directory " + dir + ": " + what + ": " + std::strerror(err)};
  };
  fs::path path{dir};
  if (path.has_parent_path() && !path.parent_path().empty()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);  // 0700 too, under the umask
    if (ec) return data_dir_error{data_dir_errc::unusable,
                                  "cannot use the data directory " + dir + ": " + ec.message()};
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return fail(errno, "mkdir");
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return fail(errno, "stat");
  if (!S_ISDIR(st.st_mode)) return fail(ENOTDIR, "stat");
  if ((st.st_mode & 077) != 0) {
    std::fprintf(stderr,
                 "respawn serve: warning: the data directory %s has mode %03o: other local users may read the "
                 "job log and the users' token hashes (chmod 700 %s)\n",
                 dir.c_str(), static_cast<unsigned>(st.st_mode & 0777), dir.c_str());
  }
  return true;
}

value_or_error<data_dir_lock, data_dir_error> lock_data_dir(const std::string& dir) {
  std::string path = dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return data_dir_error{data_dir_errc::unusable, "cannot open " + path + ": " + std::strerror(errno)};
  }
  data_dir_lock lock{fd};
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK) {
      return data_dir_error{data_dir_errc::unusable, "cannot lock " + path + ": " + std::strerror(err)};
    }
    char text[32] = {};
    auto n = ::pread(fd, text, sizeof text - 1, 0);
    std::string holder = n > 0 ? std::string{text, static_cast<std::size_t>(n)} : std::string{};
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return data_dir_error{data_dir_errc::locked,
                          "another node" + (holder.empty() ? std::string{} : " (pid " + holder + ")") +
                              " is using the data directory " + dir + " (it holds " + path + ")"};
  }
  // Ours now: say who holds it, for the next node that finds it taken.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] auto n = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return lock;
}

}  // namespace respawn::node
