// exit_reason: why a process ended. Erlang's vocabulary: normal, shutdown, kill (a signal that
// cannot be trapped; the victim is then seen to have exited with killed), noproc (the process did
// not exist), hung (declared by the watchdog), and error, which carries the escaped exception's
// type and text. It is a value: 16 bytes, cheap to copy into every link's exit signal.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace respawn {

class exit_reason {
 public:
  enum class kind : std::uint8_t { normal, shutdown, kill, killed, noproc, hung, error, other };

  exit_reason() noexcept = default;  // normal

  static exit_reason normal() noexcept { return exit_reason{kind::normal}; }
  static exit_reason shutdown() noexcept { return exit_reason{kind::shutdown}; }
  static exit_reason kill() noexcept { return exit_reason{kind::kill}; }
  static exit_reason killed() noexcept { return exit_reason{kind::killed}; }
  static exit_reason noproc() noexcept { return exit_reason{kind::noproc}; }
  static exit_reason hung() noexcept { return exit_reason{kind::hung}; }
  // An exception escaped a handler: `type` is its demangled type name, `text` its what().
  static exit_reason error(std::string type, std::string text);
  // Any other reason a program wants to give (Erlang's exit(Pid, {custom, term})).
  static exit_reason other(std::string text);

  kind what() const noexcept { return kind_; }
  bool is(kind k) const noexcept { return kind_ == k; }
  // normal and shutdown are the reasons OTP does not report as crashes.
  bool is_normal() const noexcept { return kind_ == kind::normal; }
  bool is_abnormal() const noexcept { return kind_ != kind::normal && kind_ != kind::shutdown; }

  const std::string& type() const noexcept;  // error only; "" otherwise
  const std::string& text() const noexcept;  // error and other; "" otherwise

  // "normal", "shutdown", "killed", "noproc", "hung", "error: std::runtime_error: boom", "TEXT".
  std::string to_string() const;

  friend bool operator==(const exit_reason& a, const exit_reason& b) noexcept;

 private:
  struct detail_text {
    std::string type;
    std::string text;
  };
  explicit exit_reason(kind k) noexcept : kind_{k} {}

  kind kind_ = kind::normal;
  std::shared_ptr<const detail_text> detail_;
};

}  // namespace respawn
