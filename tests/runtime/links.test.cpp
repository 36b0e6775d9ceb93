// Links: the OTP matrix for processes that do not trap exits. A link is two-way: when either end
// ends with an abnormal reason, the other end dies with the same reason (a kill is seen as
// killed); a normal exit takes nobody down. Also unlink, and linking to a pid that is already dead.
// All in deterministic mode, so every assertion is about one exact state of the system.
#include "harness.hpp"

namespace respawn::test {
namespace {

std::vector<ending> abnormal_endings() {
  std::vector<ending> out;
  for (ending& e : endings()) {
    if (!e.seen.is_normal()) out.push_back(std::move(e));
  }
  return out;
}

class LinkMatrix : public ::testing::TestWithParam<ending> {};

TEST_P(LinkMatrix, ALinkedProcessThatDoesNotTrapExitsDiesWithTheSameReason) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>({}, observer.self());
  rt.send(b, link_to{a});
  rt.run_until_idle();
  observer.monitor(a);
  observer.monitor(b);
  rt.run_until_idle();

  GetParam().end(rt, a);
  observed seen = collect(observer);

  ASSERT_TRUE(seen.down_of(a));
  EXPECT_EQ(seen.down_of(a)->reason, GetParam().seen);
  ASSERT_TRUE(seen.down_of(b)) << "the linked process survived " << GetParam().seen.to_string();
  EXPECT_EQ(seen.down_of(b)->reason, GetParam().seen);
  EXPECT_FALSE(rt.alive(b));
  EXPECT_TRUE(seen.exit_signals.empty());
}

TEST_P(LinkMatrix, TheLinkWorksBothWaysSoTheLinkerDyingTakesDownTheProcessItLinkedTo) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid linker = rt.spawn<puppet>({}, observer.self());
  pid target = rt.spawn<puppet>({}, observer.self());
  rt.send(linker, link_to{target});
  rt.run_until_idle();
  observer.monitor(target);
  rt.run_until_idle();

  GetParam().end(rt, linker);
  observed seen = collect(observer);

  ASSERT_TRUE(seen.down_of(target));
  EXPECT_EQ(seen.down_of(target)->reason, GetParam().seen);
}

TEST_P(LinkMatrix, ADeathPropagatesAlongAChainOfLinks) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  std::vector<pid> chain;
  for (int i = 0; i < 5; ++i) chain.push_back(rt.spawn<puppet>({}, observer.self()));
  for (std::size_t i = 1; i < chain.size(); ++i) rt.send(chain[i], link_to{chain[i - 1]});
  rt.run_until_idle();
  for (pid p : chain) observer.monitor(p);
  rt.run_until_idle();

  GetParam().end(rt, chain.front());
  observed seen = collect(observer);

  for (pid p : chain) {
    ASSERT_TRUE(seen.down_of(p)) << p.to_string();
    EXPECT_EQ(seen.down_of(p)->reason, GetParam().seen);
  }
  EXPECT_EQ(rt.process_count(), 1u);  // only the observer
}

INSTANTIATE_TEST_SUITE_P(AbnormalReasons, LinkMatrix, ::testing::ValuesIn(abnormal_endings()), ending_name);

TEST(Links, NormalExitDoesNotTakeDownALinkedProcessThatDoesNotTrapExits) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>({}, observer.self());
  rt.send(b, link_to{a});
  rt.run_until_idle();
  ASSERT_EQ(rt.info(b)->links, std::vector<pid>{a});

  rt.send(a, die_with{exit_reason::normal()});
  rt.run_until_idle();

  EXPECT_FALSE(rt.alive(a));
  EXPECT_TRUE(rt.alive(b));
  EXPECT_TRUE(rt.info(b)->links.empty()) << "the dead partner is still listed as a link";
  EXPECT_TRUE(rt.call<pong>(b, ping{}, 1s).ok());
  EXPECT_TRUE(collect(observer).exit_signals.empty());
}

TEST(Links, AKilledProcessTakesDownItsLinksWithReasonKilled) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>({}, observer.self());
  rt.send(b, link_to{a});
  rt.run_until_idle();
  observer.monitor(b);

  rt.exit(a, exit_reason::kill());
  observed seen = collect(observer);

  ASSERT_TRUE(seen.down_of(b));
  EXPECT_EQ(seen.down_of(b)->reason, exit_reason::killed());
  EXPECT_NE(seen.down_of(b)->reason, exit_reason::kill());
}

TEST(Links, UnlinkStopsPropagation) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>({}, observer.self());
  rt.send(b, link_to{a});
  rt.run_until_idle();
  rt.send(b, unlink_from{a});
  rt.run_until_idle();
  EXPECT_TRUE(rt.info(a)->links.empty());
  EXPECT_TRUE(rt.info(b)->links.empty());

  rt.send(a, throw_runtime_error{"boom"});
  rt.run_until_idle();

  EXPECT_FALSE(rt.alive(a));
  EXPECT_TRUE(rt.alive(b));
}

TEST(Links, UnlinkingFromTheOtherEndAlsoStopsPropagation) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>({}, observer.self());
  rt.send(b, link_to{a});
  rt.run_until_idle();
  rt.send(a, unlink_from{b});
  rt.run_until_idle();

  rt.send(b, throw_runtime_error{"boom"});
  rt.run_until_idle();

  EXPECT_FALSE(rt.alive(b));
  EXPECT_TRUE(rt.alive(a));
}

TEST(Links, AnExitSignalAlreadyQueuedWhenTheProcessUnlinksIsIgnored) {
  // Erlang's unlink/1 guarantees that no exit signal from the old link takes effect afterwards,
  // even one already on its way.
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>({}, observer.self());
  rt.send(b, link_to{a});
  rt.run_until_idle();

  // a becomes runnable first, then b with the unlink: a dies and queues its exit signal behind
  // the unlink in b's mailbox.
  rt.send(a, throw_runtime_error{"boom"});
  rt.send(b, unlink_from{a});
  ASSERT_TRUE(rt.step());  // a dies
  ASSERT_FALSE(rt.alive(a));
  EXPECT_EQ(rt.info(b)->mailbox_length, 2u);  // the unlink, then a's exit signal
  rt.run_until_idle();

  EXPECT_TRUE(rt.alive(b));
}

TEST(Links, LinkingToADeadProcessKillsANonTrappingProcessWithNoproc) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid dead = rt.spawn<puppet>({}, observer.self());
  rt.send(dead, die_with{exit_reason::normal()});
  rt.run_until_idle();
  ASSERT_FALSE(rt.alive(dead));
  pid b = rt.spawn<puppet>({}, observer.self());
  observer.monitor(b);
  rt.run_until_idle();

  rt.send(b, link_to{dead});
  observed seen = collect(observer);

  ASSERT_TRUE(seen.down_of(b));
  EXPECT_EQ(seen.down_of(b)->reason, exit_reason::noproc());
}

TEST(Links, ALinkRequestPendingWhenTheProcessDiesIsAnsweredWithItsExitReason) {
  // The request reached a while it was alive, so it is answered as if handled just before the
  // end (not with noproc): signals between two processes stay in order.
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>(trapping(), observer.self());
  rt.run_until_idle();

  // b runs first and queues its link request behind the message that ends a.
  rt.send(b, link_to{a});
  rt.send(a, die_with{exit_reason::shutdown()});
  ASSERT_TRUE(rt.step());  // b asks
  EXPECT_EQ(rt.info(a)->mailbox_length, 2u);
  rt.run_until_idle();

  observed seen = collect(observer);
  ASSERT_EQ(seen.exit_signals.size(), 1u);
  EXPECT_EQ(seen.exit_signals[0].from, a);
  EXPECT_EQ(seen.exit_signals[0].reason, exit_reason::shutdown());
  EXPECT_TRUE(rt.alive(b));
  EXPECT_TRUE(rt.info(b)->links.empty());
}

TEST(Links, LinkingTwiceMakesOneLink) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>(trapping(), observer.self());
  rt.send(b, link_to{a});
  rt.send(b, link_to{a});
  rt.run_until_idle();
  EXPECT_EQ(rt.info(a)->links, std::vector<pid>{b});
  EXPECT_EQ(rt.info(b)->links, std::vector<pid>{a});

  rt.send(a, die_with{exit_reason::shutdown()});
  EXPECT_EQ(collect(observer).exit_signals.size(), 1u);
}

}  // namespace
}  // namespace respawn::test
