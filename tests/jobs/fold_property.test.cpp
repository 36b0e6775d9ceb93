// Property tests of the fold (rapidcheck): random VALID event sequences from event_walk.hpp's
// walk of the state machine, and the fold's invariants over them. A failure prints the shrunk
// choices and an RC_PARAMS="reproduce=..." line that replays it.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>

#include "event_walk.hpp"
#include "respawn/jobs/fold.hpp"

namespace respawn::jobs {
namespace {

using testing::walk_state_machine;

bool changes_state(event_type type) {
  return type == event_type::submitted || type == event_type::claimed ||
         type == event_type::succeeded || type == event_type::attempt_failed ||
         type == event_type::dead || type == event_type::cancelled || type == event_type::paused ||
         type == event_type::resumed;
}

RC_GTEST_PROP(FoldProperty, TheStateIsTheOneTheLastStateChangingEventLeadsTo,
              (const std::vector<std::uint8_t>& choices)) {
  const auto w = walk_state_machine(42, choices);
  const job_state s = fold(w.events);
  RC_ASSERT(s.status == w.statuses.back());
  const auto last_change = std::find_if(w.events.rbegin(), w.events.rend(),
                                        [](const event& e) { return changes_state(e.type); });
  RC_ASSERT(last_change != w.events.rend());
  const std::size_t index = static_cast<std::size_t>(w.events.rend() - last_change) - 1;
  RC_ASSERT(s.status == w.statuses[index]);
}

RC_GTEST_PROP(FoldProperty, AttemptsEqualTheNumberOfClaims,
              (const std::vector<std::uint8_t>& choices)) {
  const auto w = walk_state_machine(42, choices);
  const job_state s = fold(w.events);
  const auto claims = std::count_if(w.events.begin(), w.events.end(),
                                    [](const event& e) { return e.type == event_type::claimed; });
  RC_ASSERT(s.attempts == static_cast<std::uint32_t>(claims));
  RC_ASSERT(s.last_sequence == w.events.size());
}

RC_GTEST_PROP(FoldProperty, FinalStatesAbsorbEveryEvent, (const std::vector<std::uint8_t>& choices)) {
  auto events = walk_state_machine(42, choices).events;
  job_state s = fold(events);
  if (!is_final(s.status)) {  // end every walk in a final state: cancelled is allowed from all
    RC_ASSERT(!apply(s, make_cancelled(42, s.last_sequence + 1, s.updated_at)).has_value());
  }
  RC_ASSERT(is_final(s.status));
  const job_state before = s;
  for (event_type type : all_event_types) {
    event e = testing::make_event(type, 42, s.last_sequence + 1, s.updated_at, s.attempts);
    e.sequence = s.last_sequence + 1;
    auto error = apply(s, e);
    RC_ASSERT(error.has_value());
    RC_ASSERT(error->what == transition_error::code::after_final_state);
    RC_ASSERT(s == before);
  }
}

RC_GTEST_PROP(FoldProperty, FoldingAPrefixThenTheRestEqualsFoldingAll,
              (const std::vector<std::uint8_t>& choices, std::uint32_t split_choice)) {
  const auto w = walk_state_machine(42, choices);
  const std::size_t split = split_choice % (w.events.size() + 1);
  const std::span<const event> all(w.events);
  job_state s = fold(all.first(split));
  for (const event& e : all.subspan(split)) {
    auto error = apply(s, e);
    RC_ASSERT(!error.has_value());
  }
  RC_ASSERT(s == fold(all));
}

RC_GTEST_PROP(FoldProperty, ReplayingAnyEventAgainIsRejectedAsADuplicate,
              (const std::vector<std::uint8_t>& choices, std::uint32_t pick)) {
  const auto w = walk_state_machine(42, choices);
  job_state s = fold(w.events);
  const job_state before = s;
  auto error = apply(s, w.events[pick % w.events.size()]);
  RC_ASSERT(error.has_value());
  RC_ASSERT(s == before);
}

RC_GTEST_PROP(FoldProperty, TheStateRoundTripsThroughJson, (const std::vector<std::uint8_t>& choices)) {
  const auto w = walk_state_machine(42, choices);
  const job_state s = fold(w.events);
  RC_ASSERT(nlohmann::json(s).get<job_state>() == s);
}

}  // namespace
}  // namespace respawn::jobs
