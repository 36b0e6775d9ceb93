// Acknowledged start (OTP's supervisor start): a supervisor starts its children one at a time,
// each once the one before has finished its init — a child supervisor, once its whole subtree
// has — and acknowledges its own start only then. So a child may look up the names of everything
// started before it, however deep, and start_supervisor() returns a tree that is entirely up. A
// child that fails to start fails its supervisor's start, and what was started is stopped.
#include "harness.hpp"

namespace respawn::sup_test {
namespace {

// Records, in its init, whether `name` was registered.
class looker final : public process {
 public:
  looker(event_log& log, std::string name) : log_{log}, name_{std::move(name)} {}
  void init() override { log_.add(system().whereis(name_) ? "found:" + name_ : "missing:" + name_); }
  void handle(message&) override {}

 private:
  event_log& log_;
  std::string name_;
};

class idle final : public process {
 public:
  explicit idle(event_log& log, std::string id) : log_{log}, id_{std::move(id)} {}
  void init() override { log_.add("start:" + id_); }
  void handle(message&) override {}
  void terminate(const exit_reason&) override { log_.add("stop:" + id_); }

 private:
  event_log& log_;
  std::string id_;
};

child_spec leaf(event_log& log, std::string id, std::string name = {}) {
  child_spec c;
  c.id = id;
  c.name = std::move(name);
  c.start = [&log, id](const snapshot&) { return std::make_unique<idle>(log, id); };
  return c;
}

child_spec sup_child(std::string id, supervisor_spec spec) {
  child_spec c;
  c.id = std::move(id);
  c.type = child_type::supervisor;
  c.start = supervisor::of(std::move(spec));
  return c;
}

// root [ A [ A1 [ x (registered "x") ] ], b (looks up "x" in its init) ]
supervisor_spec nested(event_log& log) {
  supervisor_spec a1;
  a1.children = {leaf(log, "x", "x")};
  supervisor_spec a;
  a.children = {sup_child("A1", a1)};
  child_spec b;
  b.id = "b";
  b.start = [&log](const snapshot&) { return std::make_unique<looker>(log, "x"); };
  supervisor_spec root;
  root.children = {sup_child("A", a), b};
  return root;
}

TEST(acknowledged_start, a_child_sees_every_name_started_before_it_however_deep) {
  event_log log;  // before the runtime: its shutdown runs terminate(), which writes here
  runtime rt{deterministic_config()};
  rt.spawn<supervisor>(spawn_options{}, nested(log));
  rt.run_until_idle();
  // Without acknowledgements b's init would run before A1's (queued behind it) and miss "x".
  EXPECT_EQ(log.events, (std::vector<std::string>{"start:x", "found:x"}));
}

TEST(acknowledged_start, start_supervisor_returns_once_the_whole_tree_is_up) {
  runtime_config c;
  c.scheduler_threads = 2;
  c.log = [](std::string_view) {};
  event_log log;  // before the runtime: its shutdown runs terminate(), which writes here
  runtime rt{c};
  pid root = start_supervisor(rt, nested(log));
  EXPECT_TRUE(rt.alive(root));
  EXPECT_TRUE(rt.whereis("x")) << "registered before start_supervisor returned";
  EXPECT_EQ(log.count("found:x"), 1u);
}

TEST(acknowledged_start, a_child_that_fails_to_start_fails_the_start_and_the_started_are_stopped) {
  event_log log;  // before the runtime: its shutdown runs terminate(), which writes here
  runtime rt{deterministic_config()};
  child_spec bad;
  bad.id = "bad";
  bad.start = [](const snapshot&) -> std::unique_ptr<process> {
    struct throws_in_init final : process {
      void init() override { throw std::runtime_error{"no database"}; }
      void handle(message&) override {}
    };
    return std::make_unique<throws_in_init>();
  };
  supervisor_spec spec;
  spec.children = {leaf(log, "a"), bad, leaf(log, "c")};
  try {
    start_supervisor(rt, spec);
    ADD_FAILURE() << "start_supervisor returned";
  } catch (const spawn_error& e) {
    EXPECT_NE(std::string{e.what()}.find("failed to start child 'bad'"), std::string::npos) << e.what();
    EXPECT_NE(std::string{e.what()}.find("no database"), std::string::npos) << e.what();
  }
  rt.run_until_idle();
  EXPECT_EQ(log.events, (std::vector<std::string>{"start:a", "stop:a"})) << "c never started; a was stopped";
}

TEST(acknowledged_start, restarts_start_the_group_in_order_too) {
  event_log log;  // before the runtime: its shutdown runs terminate(), which writes here
  runtime rt{deterministic_config()};
  auto spec = nested(log);
  spec.flags.strategy = strategy::one_for_all;
  pid root = start_supervisor(rt, spec);
  ASSERT_EQ(log.events, (std::vector<std::string>{"start:x", "found:x"}));
  auto children = rt.call<std::vector<child_info>>(root, which_children{}, 1s);
  ASSERT_TRUE(children.ok());
  pid b;
  for (auto& c : children.value()) {
    if (c.id == "b") b = c.pid;
  }
  rt.exit(b, exit_reason::error("crash", "boom"));  // one_for_all: A's subtree restarts too
  rt.run_until_idle();
  EXPECT_TRUE(rt.alive(root));
  EXPECT_EQ(log.since(2), (std::vector<std::string>{"stop:x", "start:x", "found:x"}))
      << "b's replacement starts after x's, and sees it";
}

}  // namespace
}  // namespace respawn::sup_test
