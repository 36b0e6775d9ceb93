// A model-based test (rapidcheck): random supervisors (strategy, intensity, a restart type per
// child) and random sequences of operations (end child i with reason r, terminate_child,
// restart_child, advance the clock) run against the real supervisor in deterministic mode and
// against a small reference model of OTP's semantics: which children are listed, which run,
// which were given a new pid, restart counts, and whether the supervisor gave up. The two are
// compared after every step, so a failure shrinks to the shortest sequence that tells them apart
// (rapidcheck prints it, with a RC_PARAMS="reproduce=..." line to replay it).
#include <deque>

#include "harness.hpp"  // before rapidcheck/gtest.h, which expects gtest to be included
#include <rapidcheck/gtest.h>

namespace respawn {
// How rapidcheck prints a counterexample's parameters (found by argument-dependent lookup).
inline void showValue(strategy s, std::ostream& os) { os << to_string(s); }
inline void showValue(restart_type r, std::ostream& os) { os << to_string(r); }
}  // namespace respawn

namespace respawn::sup_test {
namespace {

enum class op_kind : int { end_child, terminate, restart, advance };

struct op {
  op_kind kind;
  int child;   // index into the children, in start order
  int reason;  // index into endings()
  int ms;      // advance
};

std::ostream& operator<<(std::ostream& os, const op& o) {
  static const char* kinds[] = {"end_child", "terminate_child", "restart_child", "advance"};
  os << kinds[static_cast<int>(o.kind)] << "(child " << o.child;
  if (o.kind == op_kind::end_child) os << ", " << endings()[static_cast<std::size_t>(o.reason)].name;
  if (o.kind == op_kind::advance) os << ", " << o.ms << " ms";
  return os << ")";
}

// The reference model: what OTP's supervisor does, written as plainly as possible.
struct model {
  struct child {
    std::string id;
    restart_type restart;
    bool present = true;  // still listed (temporary children are removed when they end)
    bool running = true;
    std::uint64_t restarts = 0;
    int incarnation = 0;  // bumped by every start: a new pid
  };
  strategy strat;
  std::uint32_t intensity;
  std::int64_t period_ms;
  std::vector<child> children;
  std::deque<std::int64_t> restart_times;
  std::int64_t now = 0;
  bool alive = true;

  static void stop(child& c) {
    c.running = false;
    if (c.restart == restart_type::temporary) c.present = false;
  }

  void end_child(std::size_t i, bool abnormal) {
    child& c = children[i];
    const bool restart = c.restart == restart_type::permanent || (c.restart == restart_type::transient && abnormal);
    stop(c);
    if (!restart) return;
    restart_times.push_back(now);
    while (!restart_times.empty() && now - restart_times.front() > period_ms) restart_times.pop_front();
    if (restart_times.size() > intensity) {
      alive = false;
      for (auto& k : children) k.running = false;
      return;
    }
    ++c.restarts;
    std::size_t first = 0, last = children.size();
    if (strat == strategy::one_for_one) first = i, last = i + 1;
    if (strat == strategy::rest_for_one) first = i;
    // The group is stopped (temporary members are then removed), and every listed member started
    // again, running before or not (OTP's terminate_children + start_children).
    for (std::size_t k = first; k < last; ++k) {
      if (children[k].present && children[k].running) stop(children[k]);
    }
    for (std::size_t k = first; k < last; ++k) {
      if (children[k].present) {
        children[k].running = true;
        ++children[k].incarnation;
      }
    }
  }

  bool terminate(std::size_t i) {
    child& c = children[i];
    if (!c.present || !c.running) return false;
    stop(c);
    return true;
  }

  bool restart(std::size_t i) {
    child& c = children[i];
    if (!c.present || c.running) return false;
    c.running = true;
    ++c.incarnation;
    return true;
  }
};

rc::Gen<op> gen_op(int children) {
  return rc::gen::map(rc::gen::tuple(rc::gen::weightedElement<int>({{6, 0}, {2, 1}, {2, 2}, {3, 3}}),
                                     rc::gen::inRange(0, children), rc::gen::inRange(0, 4),
                                     rc::gen::inRange(1, 1500)),
                      [](const std::tuple<int, int, int, int>& t) {
                        return op{static_cast<op_kind>(std::get<0>(t)), std::get<1>(t), std::get<2>(t), std::get<3>(t)};
                      });
}

std::size_t index_of(const std::string& id) { return static_cast<std::size_t>(std::stoi(id.substr(1))); }

RC_GTEST_PROP(SupervisorModel, AgreesWithTheReferenceModelAfterEveryStep, ()) {
  constexpr int n = 4;
  const auto strat = *rc::gen::element(strategy::one_for_one, strategy::one_for_all, strategy::rest_for_one);
  const auto intensity = *rc::gen::inRange<std::uint32_t>(0, 6);
  const auto restart_types = *rc::gen::container<std::vector<restart_type>>(
      n, rc::gen::element(restart_type::permanent, restart_type::transient, restart_type::temporary));
  const auto ops = *rc::gen::container<std::vector<op>>(gen_op(n));

  model m{strat, intensity, 1000, {}, {}, 0, true};
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  std::vector<child_spec> specs;
  for (std::size_t i = 0; i < n; ++i) {
    std::string id = "c" + std::to_string(i);
    specs.push_back(worker_spec(id, log, restart_types[i]));
    m.children.push_back(model::child{id, restart_types[i]});
  }
  pid sup = rt.spawn<supervisor>({}, spec_of(strat, specs, intensity, 1000ms));
  rt.run_until_idle();

  std::vector<pid> seen_pids(n);  // each child's pid when we last saw it running
  std::vector<int> seen_incarnation(n, 0);
  for (const auto& c : children_of(rt, sup)) seen_pids[index_of(c.id)] = c.pid;

  for (std::size_t step = 0; step < ops.size(); ++step) {
    const op& o = ops[step];
    const auto i = static_cast<std::size_t>(o.child);
    RC_LOG() << "step " << step << ": " << o << "\n";
    switch (o.kind) {
      case op_kind::end_child: {
        if (!m.children[i].present || !m.children[i].running) continue;  // nothing to end
        const ending e = endings()[static_cast<std::size_t>(o.reason)];
        e.end(rt, pid_of(rt, sup, m.children[i].id));
        rt.run_until_idle();
        m.end_child(i, e.abnormal);
        break;
      }
      case op_kind::terminate: {
        auto r = rt.call<bool>(sup, terminate_child{m.children[i].id}, 1s);
        RC_ASSERT(r.ok());
        RC_ASSERT(r.value() == m.terminate(i));
        break;
      }
      case op_kind::restart: {
        auto r = rt.call<bool>(sup, restart_child{m.children[i].id}, 1s);
        RC_ASSERT(r.ok());
        RC_ASSERT(r.value() == m.restart(i));
        rt.run_until_idle();
        break;
      }
      case op_kind::advance:
        rt.advance(std::chrono::milliseconds{o.ms});
        rt.run_until_idle();
        m.now += o.ms;
        break;
    }

    RC_ASSERT(rt.alive(sup) == m.alive);
    if (!m.alive) {
      for (pid p : seen_pids) RC_ASSERT(!(p && rt.alive(p)));
      RC_ASSERT(rt.process_count() == 0u);
      return;
    }
    std::vector<child_info> real = children_of(rt, sup);
    std::vector<std::string> expected_ids;
    for (const auto& c : m.children) {
      if (c.present) expected_ids.push_back(c.id);
    }
    RC_ASSERT(ids_of(real) == expected_ids);
    for (const child_info& c : real) {
      const std::size_t k = index_of(c.id);
      const model::child& mc = m.children[k];
      RC_ASSERT(static_cast<bool>(c.pid) == mc.running);
      RC_ASSERT(c.restarts == mc.restarts);
      if (c.pid) {
        RC_ASSERT(rt.alive(c.pid));
        // A new pid exactly when the model started the child again.
        RC_ASSERT((c.pid != seen_pids[k]) == (mc.incarnation != seen_incarnation[k]));
        seen_pids[k] = c.pid;
        seen_incarnation[k] = mc.incarnation;
      }
    }
  }
}

}  // namespace
}  // namespace respawn::sup_test
