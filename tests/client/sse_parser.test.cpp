// Tests of sse_parser: the WHATWG event-stream rules, fed whole and in every split.
#include "sse_parser.hpp"

#include <gtest/gtest.h>

namespace respawn::client {
namespace {

std::vector<sse_event> feed_in_pieces(std::string_view text, std::size_t piece) {
  sse_parser p;
  std::vector<sse_event> all;
  for (std::size_t at = 0; at < text.size(); at += piece) {
    auto got = p.feed(text.substr(at, piece));
    all.insert(all.end(), got.begin(), got.end());
  }
  return all;
}

TEST(SseParser, ReadsIdEventAndData) {
  sse_parser p;
  auto events = p.feed("id: 1\nevent: queued\ndata: {\"state\":\"queued\"}\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].id, "1");
  EXPECT_EQ(events[0].type, "queued");
  EXPECT_EQ(events[0].data, "{\"state\":\"queued\"}");
  EXPECT_EQ(p.last_event_id(), "1");
}

TEST(SseParser, JoinsMultiLineDataAndDefaultsTheType) {
  sse_parser p;
  auto events = p.feed("data: first\ndata:second\ndata\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "message");
  EXPECT_EQ(events[0].data, "first\nsecond\n");  // a bare "data" adds an empty line
  EXPECT_EQ(p.last_event_id(), std::nullopt);
}

TEST(SseParser, SkipsCommentsAndUnknownFieldsAndReadsRetry) {
  sse_parser p;
  auto events = p.feed(": keep-alive\nfoo: bar\nretry: 1500\nretry: soon\nevent: running\ndata: x\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "running");
  EXPECT_EQ(events[0].data, "x");
  EXPECT_EQ(p.retry_ms(), 1500);
}

TEST(SseParser, AnEventWithoutDataIsNotDispatchedButItsIdCounts) {
  sse_parser p;
  auto events = p.feed("id: 7\nevent: noise\n\nevent: running\ndata: y\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "running");  // the type was reset by the empty dispatch
  EXPECT_EQ(events[0].id, "7");          // the id stays until a new one
  EXPECT_EQ(p.last_event_id(), "7");
}

TEST(SseParser, HandlesEveryLineEndingAndEverySplit) {
  const std::string text =
      "\xEF\xBB\xBFid: 1\r\nevent: queued\r\ndata: a\r\n\r\n"
      "id: 2\revent: running\rdata: b\rdata: c\r\r"
      "id: 3\nevent: succeeded\ndata: {\"result\":832040}\n\n"
      "id: 4\ndata: half";  // incomplete: not dispatched
  for (std::size_t piece = 1; piece <= text.size(); ++piece) {
    auto events = feed_in_pieces(text, piece);
    ASSERT_EQ(events.size(), 3u) << "pieces of " << piece;
    EXPECT_EQ(events[0].id, "1");
    EXPECT_EQ(events[0].data, "a");
    EXPECT_EQ(events[1].type, "running");
    EXPECT_EQ(events[1].data, "b\nc") << "pieces of " << piece;
    EXPECT_EQ(events[2].id, "3");
    EXPECT_EQ(events[2].data, "{\"result\":832040}");
  }
}

TEST(SseParser, AColonInTheValueStays) {
  sse_parser p;
  auto events = p.feed("data: a: b\ndata:  two spaces\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a: b\n two spaces");
}

TEST(SseParser, ARetryPastInt64IsIgnoredNotThrown) {
  sse_parser p;
  EXPECT_NO_THROW(p.feed("retry: 99999999999999999999999999\n\n"));
  EXPECT_EQ(p.retry_ms(), std::nullopt);
  p.feed("retry: 1500\n\nretry: 1x\n\n");
  EXPECT_EQ(p.retry_ms(), 1500);
  EXPECT_FALSE(p.error());
}

TEST(SseParser, ALineLongerThanTheBoundStopsItWithAnError) {
  sse_parser p{64};
  auto events = p.feed("id: 1\ndata: ok\n\n");
  ASSERT_EQ(events.size(), 1u);
  // A line that never ends, in pieces: the buffer stops at the bound.
  for (int i = 0; i < 100; ++i) p.feed(std::string(10, 'x'));
  ASSERT_TRUE(p.error());
  EXPECT_NE(p.error()->find("64 bytes"), std::string::npos) << *p.error();
  EXPECT_TRUE(p.feed("\n\nid: 2\ndata: late\n\n").empty());  // stopped for good
  EXPECT_EQ(p.last_event_id(), "1");
}

TEST(SseParser, AnEventWhoseDataPassesTheBoundStopsItWithAnError) {
  sse_parser p{64};
  std::string many;
  for (int i = 0; i < 20; ++i) many += "data: 0123456789\n";  // short lines, a long event
  auto events = p.feed(many + "\n");
  EXPECT_TRUE(events.empty());
  ASSERT_TRUE(p.error());
  // Up to the bound is fine.
  sse_parser fits{64};
  auto ok = fits.feed("data: " + std::string(50, 'y') + "\n\n");
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_FALSE(fits.error());
}

}  // namespace
}  // namespace respawn::client
