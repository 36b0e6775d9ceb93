// The supervision tree as data (supervision_tree) and as JSON (to_json): every supervisor's
// children with their ids, pids, names, types, restart types, restart counts and last exit
// reasons, nested supervisors walked recursively, as each supervisor itself sees them. We parse
// the JSON back rather than compare strings, so the test pins the content, not the spacing.
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace respawn::sup_test {
namespace {

struct tree_fixture {
  runtime rt{deterministic_config()};
  std::shared_ptr<event_log> log = std::make_shared<event_log>();
  pid root;

  tree_fixture() {
    supervisor_spec inner = spec_of(strategy::rest_for_one,
                                    {worker_spec("x", log), worker_spec("y", log, restart_type::transient)}, 1);
    spawn_options named;
    named.name = "root-sup";
    root = rt.spawn<supervisor>(
        named,
        spec_of(strategy::one_for_one, {worker_spec("w", log, restart_type::permanent, "named-w"),
                                        supervisor_child("inner", inner),
                                        worker_spec("t", log, restart_type::temporary)}));
    rt.run_until_idle();
  }
};

TEST(SupervisionTree, ListsEveryChildWithItsTypeRestartTypeAndNestedChildren) {
  tree_fixture f;
  supervision_node tree = supervision_tree(f.rt, f.root, 1s);

  EXPECT_EQ(tree.id, "");
  EXPECT_EQ(tree.pid, f.root);
  EXPECT_EQ(tree.name, "root-sup");
  EXPECT_EQ(tree.type, child_type::supervisor);
  ASSERT_EQ(tree.children.size(), 3u);
  const supervision_node& w = tree.children[0];
  EXPECT_EQ(w.id, "w");
  EXPECT_EQ(w.name, "named-w");
  EXPECT_EQ(w.pid, f.rt.whereis("named-w"));
  EXPECT_EQ(w.type, child_type::worker);
  EXPECT_EQ(w.restart, restart_type::permanent);
  EXPECT_TRUE(w.children.empty());
  const supervision_node& inner = tree.children[1];
  EXPECT_EQ(inner.id, "inner");
  EXPECT_EQ(inner.type, child_type::supervisor);
  ASSERT_EQ(inner.children.size(), 2u);
  EXPECT_EQ(inner.children[0].id, "x");
  EXPECT_EQ(inner.children[1].id, "y");
  EXPECT_EQ(inner.children[1].restart, restart_type::transient);
  EXPECT_EQ(inner.children[0].pid, pid_of(f.rt, inner.pid, "x"));
  EXPECT_EQ(tree.children[2].restart, restart_type::temporary);
  for (const supervision_node* n : {&w, &inner, &inner.children[0], &inner.children[1]}) {
    EXPECT_EQ(n->restarts, 0u) << n->id;
    EXPECT_EQ(n->last_exit_reason, "") << n->id;
  }
}

TEST(SupervisionTree, ShowsRestartCountsAndLastExitReasonsAtEveryLevel) {
  tree_fixture f;
  crash(f.rt, f.root, "w");
  crash(f.rt, f.root, "w");
  const pid inner0 = pid_of(f.rt, f.root, "inner");
  crash(f.rt, inner0, "x");                                  // inner: restart 1 of 1
  f.rt.send(pid_of(f.rt, inner0, "y"), exit_with{exit_reason::normal()});  // transient, normal: stays down
  f.rt.run_until_idle();

  supervision_node tree = supervision_tree(f.rt, f.root, 1s);
  ASSERT_EQ(tree.children.size(), 3u);
  EXPECT_EQ(tree.children[0].restarts, 2u);
  EXPECT_EQ(tree.children[0].last_exit_reason, "error: std::runtime_error: boom");
  const supervision_node& inner = tree.children[1];
  EXPECT_EQ(inner.restarts, 0u);
  ASSERT_EQ(inner.children.size(), 2u);
  EXPECT_EQ(inner.children[0].restarts, 1u);
  EXPECT_EQ(inner.children[0].last_exit_reason, "error: std::runtime_error: boom");
  EXPECT_FALSE(inner.children[1].pid);
  EXPECT_EQ(inner.children[1].last_exit_reason, "normal");

  crash(f.rt, inner0, "x");  // inner gives up; the root restarts it
  supervision_node after = supervision_tree(f.rt, f.root, 1s);
  ASSERT_EQ(after.children.size(), 3u);
  EXPECT_EQ(after.children[1].restarts, 1u);
  EXPECT_EQ(after.children[1].last_exit_reason, "shutdown");
  EXPECT_NE(after.children[1].pid, inner0);
  ASSERT_EQ(after.children[1].children.size(), 2u);
  EXPECT_EQ(after.children[1].children[0].restarts, 0u) << "a fresh inner supervisor has fresh counts";
  EXPECT_TRUE(after.children[1].children[1].pid);
}

TEST(SupervisionTree, AsJsonCarriesTheSameTree) {
  tree_fixture f;
  crash(f.rt, f.root, "w");
  supervision_node tree = supervision_tree(f.rt, f.root, 1s);

  nlohmann::json j = nlohmann::json::parse(to_json(tree));

  EXPECT_EQ(j["id"], "");
  EXPECT_EQ(j["pid"], f.root.to_string());
  EXPECT_EQ(j["name"], "root-sup");
  EXPECT_EQ(j["type"], "supervisor");
  ASSERT_EQ(j["children"].size(), 3u);
  const auto& w = j["children"][0];
  EXPECT_EQ(w["id"], "w");
  EXPECT_EQ(w["pid"], pid_of(f.rt, f.root, "w").to_string());
  EXPECT_EQ(w["name"], "named-w");
  EXPECT_EQ(w["type"], "worker");
  EXPECT_EQ(w["restart"], "permanent");
  EXPECT_EQ(w["restarts"], 1);
  EXPECT_EQ(w["last_exit_reason"], "error: std::runtime_error: boom");
  EXPECT_TRUE(w["children"].is_array());
  EXPECT_TRUE(w["children"].empty());
  const auto& inner = j["children"][1];
  EXPECT_EQ(inner["type"], "supervisor");
  ASSERT_EQ(inner["children"].size(), 2u);
  EXPECT_EQ(inner["children"][1]["id"], "y");
  EXPECT_EQ(inner["children"][1]["restart"], "transient");
  EXPECT_EQ(j["children"][2]["restart"], "temporary");
}

TEST(SupervisionTree, AStoppedChildHasAnEmptyPidInJson) {
  tree_fixture f;
  ASSERT_TRUE(f.rt.call<bool>(f.root, terminate_child{"w"}, 1s).value());
  nlohmann::json j = nlohmann::json::parse(to_json(supervision_tree(f.rt, f.root, 1s)));
  EXPECT_EQ(j["children"][0]["pid"], "");
  EXPECT_EQ(j["children"][0]["last_exit_reason"], "shutdown");
}

}  // namespace
}  // namespace respawn::sup_test
