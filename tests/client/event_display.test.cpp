// event_display: the progress line's text (state, attempt, the latest progress value), and that
// nothing but plain lines is written when the output is not a terminal.
#include "event_display.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace respawn::client {
namespace {

class EventDisplay : public ::testing::Test {
 protected:
  std::ostringstream out;
  std::ostringstream err;
  client_context context{out, err};
};

TEST_F(EventDisplay, TheProgressLineShowsTheStateTheAttemptAndTheLatestProgress) {
  context.tty = true;
  event_display display(context, 42);
  display.show({"1", "queued", R"({"max_attempts":3})"});
  display.show({"2", "running", R"({"attempt":1})"});
  display.show({"3", "progress", R"({"job_id":42,"progress":{"done":3,"of":10}})"});
  EXPECT_EQ(display.status_line().rfind(R"(job 42 running · attempt 1/3 · progress {"done":3,"of":10} · )", 0), 0u)
      << display.status_line();
  display.show({"4", "progress", R"({"job_id":42,"progress":0.25})"});
  EXPECT_NE(display.status_line().find("· progress 25.0 % ·"), std::string::npos) << display.status_line();
  display.show({"5", "retrying", R"({"error":"boom"})"});
  display.show({"6", "running", R"({"attempt":2})"});
  EXPECT_EQ(display.status_line().rfind("job 42 running · attempt 2/3 · ", 0), 0u) << display.status_line();
  EXPECT_EQ(display.status_line().find("progress"), std::string::npos) << "a new attempt starts from nothing";
}

TEST_F(EventDisplay, ALongProgressValueIsCutOnTheLineButWholeInTheEvent) {
  context.tty = true;
  event_display display(context, 1);
  const std::string long_text(500, 'x');
  display.show({"1", "progress", R"({"progress":")" + long_text + R"("})"});
  EXPECT_LT(display.status_line().size(), 120u) << display.status_line();
  EXPECT_NE(out.str().find(long_text), std::string::npos);
}

TEST_F(EventDisplay, OffATerminalOnlyPlainLinesAreWritten) {
  {
    event_display display(context, 1);
    display.show({"1", "running", R"({"attempt":1})"});
    display.tick();
    display.show({"2", "progress", R"({"progress":0.5})"});
    display.clear_line();
  }
  EXPECT_EQ(out.str(), "running {\"attempt\":1}\nprogress {\"progress\":0.5}\n");
  EXPECT_EQ(err.str(), "");
}

}  // namespace
}  // namespace respawn::client
