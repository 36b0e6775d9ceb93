// session_client.cpp: how the HTTP layer (or any thread) reaches a session job: call_session
// finds the session's process through the dispatcher and calls it, asking again when the process
// ended in between; session_attachment keeps a stream attached (respawn/engine.hpp).
#include <thread>

#include "respawn/engine.hpp"
#include "respawn/runtime.hpp"

namespace respawn::engine {

namespace {

// A session process that lingered out (or crashed) between locate and call: a few tries find
// the next one. More than this means something keeps killing it (a store that fails at once).
constexpr int max_tries = 50;

session_reply unavailable(std::string message) {
  session_reply r;
  r.error_code = "unavailable";
  r.error = std::move(message);
  return r;
}

std::chrono::milliseconds left_until(runtime& rt, std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - rt.now());
  return left.count() > 0 ? left : std::chrono::milliseconds{0};
}

// call_session, also telling which process answered.
session_reply call_located(runtime& rt, respawn::pid dispatcher, jobs::job_id id, const session_request& request,
                           std::chrono::milliseconds timeout, respawn::pid* answered_by) {
  auto deadline = rt.now() + timeout;
  std::string last_error = "no answer";
  for (int attempt = 0; attempt < max_tries; ++attempt) {
    auto left = left_until(rt, deadline);
    if (left.count() == 0) break;
    auto where = rt.call<respawn::pid>(dispatcher, locate_session{id}, left);
    if (!where.ok()) return unavailable("the job engine did not answer: " + where.error().message());
    auto answer = rt.call<session_reply>(where.value(), session_request{request}, left_until(rt, deadline));
    if (answer.ok()) {
      if (answered_by != nullptr) *answered_by = where.value();
      return std::move(answer).value();
    }
    last_error = answer.error().message();
    if (answer.error().what != call_error::code::callee_exited) break;
    // Ended before it answered: the dispatcher hears of it (down) and starts the next one.
    std::this_thread::yield();
  }
  return unavailable("session " + std::to_string(id) + " did not answer: " + last_error);
}

}  // namespace

session_reply call_session(runtime& rt, respawn::pid dispatcher, jobs::job_id id, const session_request& request,
                           std::chrono::milliseconds timeout) {
  try {
    return call_located(rt, dispatcher, id, request, timeout, nullptr);
  } catch (const std::exception& e) {
    return unavailable(e.what());
  }
}

struct session_attachment::state {
  state(runtime& r, std::function<respawn::pid()> d, jobs::job_id i, std::chrono::milliseconds t)
      : rt{r}, dispatcher{std::move(d)}, id{i}, timeout{t}, watcher{r} {}

  session_reply attach() {
    session_request request;
    request.what = session_request::op::attach;
    request.watcher = watcher.self();
    respawn::pid session{};
    auto reply = call_located(rt, dispatcher(), id, request, timeout, &session);
    if (reply.ok) {
      ++attaches;
      if (session_monitor) watcher.demonitor(session_monitor);
      session_monitor = watcher.monitor(session);
    }
    return reply;
  }

  runtime& rt;
  std::function<respawn::pid()> dispatcher;
  jobs::job_id id;
  std::chrono::milliseconds timeout;
  scoped_process watcher;  // the session monitors it: its end is the stream's end
  monitor_ref session_monitor{};
  std::uint64_t attaches = 0;
};

std::unique_ptr<session_attachment> session_attachment::open(runtime& rt, std::function<respawn::pid()> dispatcher,
                                                             jobs::job_id id, std::chrono::milliseconds timeout,
                                                             session_reply& reply) {
  try {
    auto s = std::make_unique<state>(rt, std::move(dispatcher), id, timeout);
    reply = s->attach();
    if (!reply.ok) return nullptr;
    return std::unique_ptr<session_attachment>{new session_attachment{std::move(s)}};
  } catch (const std::exception& e) {
    reply = unavailable(e.what());
    return nullptr;
  }
}

session_attachment::session_attachment(std::unique_ptr<state> s) : s_{std::move(s)} {}
session_attachment::~session_attachment() = default;

std::uint64_t session_attachment::attaches() const noexcept { return s_->attaches; }

bool session_attachment::keep() {
  try {
    auto d = s_->watcher.receive<down>(std::chrono::milliseconds{0});
    if (!d || d->ref != s_->session_monitor) return true;
    s_->session_monitor = {};
    // The session's process ended while we stream: a crash, a manager restart, or the session
    // reached its end (then attach says job_finished, and the stream ends with the log).
    auto reply = s_->attach();
    return reply.ok || reply.error_code == "job_finished";
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace respawn::engine
