// frame.test: the node <-> worker wire format. Every record survives a round trip, the stream
// decoder finds the same frames however the bytes are cut, and every malformed input is refused
// (the peer is then ended) rather than misread.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "frame.hpp"

namespace wire = respawn::wire;

namespace {

std::string header(std::uint32_t length, std::uint8_t version, std::uint8_t type, std::uint16_t flags,
                   std::uint64_t task) {
  std::string h;
  for (int i = 0; i < 4; ++i) h.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  h.push_back(static_cast<char>(version));
  h.push_back(static_cast<char>(type));
  h.push_back(static_cast<char>(flags & 0xff));
  h.push_back(static_cast<char>(flags >> 8));
  for (int i = 0; i < 8; ++i) h.push_back(static_cast<char>((task >> (8 * i)) & 0xff));
  return h;
}

std::vector<wire::frame> decode_all(const std::string& bytes) {
  wire::decoder d;
  std::vector<wire::frame> out;
  d.feed(bytes, out);
  EXPECT_EQ(d.buffered(), 0u);
  return out;
}

}  // namespace

TEST(Frame, HeaderIsSixteenLittleEndianBytes) {
  std::string out;
  wire::append_frame(out, wire::frame_type::result, 0x0102030405060708ull, "abc");
  EXPECT_EQ(out, header(3, wire::protocol_version, 65, 0, 0x0102030405060708ull) + "abc");
}

TEST(Frame, TaskRecordRoundTrips) {
  wire::task_frame t{"sum", 7, 256, 3, R"({"n":10})", R"({"value":4})"};
  wire::task_frame back = wire::decode_task(wire::encode(t));
  EXPECT_EQ(back.kind, "sum");
  EXPECT_EQ(back.attempt, 7u);
  EXPECT_EQ(back.memory_limit_mb, 256u);
  EXPECT_EQ(back.cpu_limit_s, 3u);
  EXPECT_EQ(back.args, R"({"n":10})");
  EXPECT_EQ(back.snapshot, R"({"value":4})");
}

TEST(Frame, TaskRecordWithEmptyStringsRoundTrips) {
  wire::task_frame t{"", 1, 0, 0, "", ""};
  wire::task_frame back = wire::decode_task(wire::encode(t));
  EXPECT_EQ(back.kind, "");
  EXPECT_EQ(back.args, "");
  EXPECT_EQ(back.snapshot, "");
}

TEST(Frame, ResultRecordRoundTripsForEveryStatus) {
  for (auto status : {wire::task_status::succeeded, wire::task_status::failed, wire::task_status::cancelled,
                      wire::task_status::unknown_kind}) {
    wire::result_frame back = wire::decode_result(wire::encode(wire::result_frame{status, "v"}));
    EXPECT_EQ(back.status, status);
    EXPECT_EQ(back.value, "v");
  }
  std::string binary{"a\0b", 3};
  EXPECT_EQ(wire::decode_result(wire::encode(wire::result_frame{wire::task_status::failed, binary})).value, binary);
}

TEST(Frame, HelloRecordRoundTrips) {
  wire::hello_frame back = wire::decode_hello(wire::encode(wire::hello_frame{4242, "respawn test build"}));
  EXPECT_EQ(back.os_pid, 4242u);
  EXPECT_EQ(back.build, "respawn test build");
}

TEST(Frame, DecoderFindsTheSameFramesFedByteByByteAndInOneChunk) {
  std::string stream;
  wire::append_frame(stream, wire::frame_type::task, 1, wire::encode(wire::task_frame{"noop"}));
  wire::append_frame(stream, wire::frame_type::ping, 2, "");
  wire::append_frame(stream, wire::frame_type::cancel, 1, "");
  wire::append_frame(stream, wire::frame_type::progress, 9, "0.5");
  wire::append_frame(stream, wire::frame_type::result, 3, wire::encode(wire::result_frame{}));

  std::vector<wire::frame> whole = decode_all(stream);
  wire::decoder d;
  std::vector<wire::frame> by_byte;
  for (char c : stream) d.feed(std::string_view{&c, 1}, by_byte);
  EXPECT_EQ(d.buffered(), 0u);

  ASSERT_EQ(whole.size(), 5u);
  ASSERT_EQ(by_byte.size(), 5u);
  for (std::size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(whole[i].type, by_byte[i].type);
    EXPECT_EQ(whole[i].task, by_byte[i].task);
    EXPECT_EQ(whole[i].payload, by_byte[i].payload);
  }
  EXPECT_EQ(whole[0].type, wire::frame_type::task);
  EXPECT_EQ(wire::decode_task(whole[0].payload).kind, "noop");
  EXPECT_EQ(whole[1].type, wire::frame_type::ping);
  EXPECT_EQ(whole[1].task, 2u);
  EXPECT_EQ(whole[3].payload, "0.5");
}

TEST(Frame, DecoderKeepsAPartialFrameUntilTheRestArrives) {
  std::string stream;
  wire::append_frame(stream, wire::frame_type::output, 5, "{\"x\":1}");
  wire::decoder d;
  std::vector<wire::frame> out;
  d.feed(std::string_view{stream}.substr(0, 20), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(d.buffered(), 20u);
  d.feed(std::string_view{stream}.substr(20), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "{\"x\":1}");
}

TEST(Frame, DecoderRefusesAnotherProtocolVersion) {
  wire::decoder d;
  std::vector<wire::frame> out;
  EXPECT_THROW(d.feed(header(0, wire::protocol_version + 1, 3, 0, 0), out), wire::malformed_frame);
}

TEST(Frame, DecoderRefusesAnUnknownFrameType) {
  for (std::uint8_t type : {0, 5, 63, 71, 255}) {
    wire::decoder d;
    std::vector<wire::frame> out;
    EXPECT_THROW(d.feed(header(0, wire::protocol_version, type, 0, 0), out), wire::malformed_frame)
        << "type " << int{type};
  }
}

TEST(Frame, DecoderRefusesNonZeroFlags) {
  wire::decoder d;
  std::vector<wire::frame> out;
  EXPECT_THROW(d.feed(header(0, wire::protocol_version, 3, 1, 0), out), wire::malformed_frame);
}

TEST(Frame, DecoderRefusesAPayloadOverTheLimitFromItsHeaderAlone) {
  wire::decoder d;
  std::vector<wire::frame> out;
  // Refused before any payload arrives: a peer cannot make us buffer 4 GiB.
  EXPECT_THROW(d.feed(header(wire::max_payload + 1, wire::protocol_version, 65, 0, 0), out), wire::malformed_frame);
  wire::decoder at_limit;
  EXPECT_NO_THROW(at_limit.feed(header(wire::max_payload, wire::protocol_version, 65, 0, 0), out));
  EXPECT_TRUE(out.empty());
}

TEST(Frame, DecoderRefusesGarbage) {
  wire::decoder d;
  std::vector<wire::frame> out;
  EXPECT_THROW(d.feed(std::string(64, '\xff'), out), wire::malformed_frame);
}

TEST(Frame, TruncatedRecordsAreMalformed) {
  std::string task = wire::encode(wire::task_frame{"sum", 1, 0, 0, "{}", ""});
  std::string result = wire::encode(wire::result_frame{wire::task_status::failed, "boom"});
  std::string hello = wire::encode(wire::hello_frame{1, "build"});
  for (std::size_t n = 0; n < task.size(); ++n) {
    EXPECT_THROW(wire::decode_task(task.substr(0, n)), wire::malformed_frame) << n;
  }
  for (std::size_t n = 0; n < result.size(); ++n) {
    EXPECT_THROW(wire::decode_result(result.substr(0, n)), wire::malformed_frame) << n;
  }
  for (std::size_t n = 0; n < hello.size(); ++n) {
    EXPECT_THROW(wire::decode_hello(hello.substr(0, n)), wire::malformed_frame) << n;
  }
}

TEST(Frame, TrailingBytesAfterARecordAreMalformed) {
  EXPECT_THROW(wire::decode_task(wire::encode(wire::task_frame{}) + "x"), wire::malformed_frame);
  EXPECT_THROW(wire::decode_result(wire::encode(wire::result_frame{}) + "x"), wire::malformed_frame);
  EXPECT_THROW(wire::decode_hello(wire::encode(wire::hello_frame{}) + "x"), wire::malformed_frame);
}

TEST(Frame, AStringLengthPastTheRecordIsMalformed) {
  std::string task = wire::encode(wire::task_frame{"sum"});
  task[0] = static_cast<char>(0xff);  // kind's length now claims 255+ bytes
  EXPECT_THROW(wire::decode_task(task), wire::malformed_frame);
}

TEST(Frame, AnUnknownTaskStatusIsMalformed) {
  std::string result = wire::encode(wire::result_frame{});
  result[0] = 5;
  EXPECT_THROW(wire::decode_result(result), wire::malformed_frame);
}

// The recall (issue 13): a node-to-worker frame, and its two answers.
TEST(Frame, RecallAndItsAnswersAreKnown) {
  std::string bytes;
  wire::append_frame(bytes, wire::frame_type::recall, 7, {});
  wire::append_frame(bytes, wire::frame_type::recall_refused, 8, {});
  wire::append_frame(bytes, wire::frame_type::result, 9, wire::encode(wire::result_frame{wire::task_status::recalled, ""}));
  wire::decoder d;
  std::vector<wire::frame> out;
  d.feed(bytes, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].type, wire::frame_type::recall);
  EXPECT_EQ(out[0].task, 7u);
  EXPECT_EQ(out[1].type, wire::frame_type::recall_refused);
  EXPECT_EQ(wire::decode_result(out[2].payload).status, wire::task_status::recalled);
}
