// Behaviour of ChunkedDecoder and writeChunkHeader(). Rejected chunk syntax is covered by the vector
// table in smuggling_test.cc; these tests cover splitting, limits, and the encoder.
#include <gtest/gtest.h>

#include <string>

#include "http/h1/chunked.h"

namespace bulwark::h1 {
namespace {

struct Decoded {
  std::string body;
  std::size_t used = 0;
  bool done = false;
  bool failed = false;
  std::size_t sinkCalls = 0;
};

// Feeds `in` in slices of `sliceSize` bytes, as a socket would deliver it.
Decoded decode(std::string_view in, std::size_t sliceSize, ChunkedDecoder decoder = ChunkedDecoder()) {
  Decoded d;
  while (d.used < in.size() && !decoder.done() && !decoder.failed()) {
    d.used += decoder.feed(in.substr(d.used, sliceSize), [&](std::string_view data) {
      EXPECT_FALSE(data.empty());
      d.body += data;
      ++d.sinkCalls;
    });
  }
  d.done = decoder.done();
  d.failed = decoder.failed();
  EXPECT_EQ(decoder.bodyBytes(), d.body.size());
  return d;
}

TEST(ChunkedDecoder, DecodesChunksAndStopsAtTheEndOfTheMessage) {
  const std::string message = "4\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n";
  const Decoded d = decode(message + "GET / HTTP/1.1\r\n", message.size() + 100);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.body, "Wikipedia in \r\n\r\nchunks.");
  EXPECT_EQ(d.used, message.size());
}

TEST(ChunkedDecoder, GivesTheSameResultForEverySliceSize) {
  const std::string message = "3;x=1\r\nabc\r\n10\r\n0123456789abcdef\r\n1\r\nz\r\n0\r\nT: v\r\n\r\n";
  const Decoded whole = decode(message, message.size());
  ASSERT_TRUE(whole.done);
  for (std::size_t slice = 1; slice <= message.size(); ++slice) {
    const Decoded d = decode(message, slice);
    EXPECT_TRUE(d.done) << slice;
    EXPECT_EQ(d.body, whole.body) << slice;
    EXPECT_EQ(d.used, message.size()) << slice;
  }
}

TEST(ChunkedDecoder, ReportsNeitherDoneNorFailedWhileIncomplete) {
  const std::string message = "5\r\nhello\r\n0\r\n\r\n";
  for (std::size_t n = 0; n < message.size(); ++n) {
    ChunkedDecoder decoder;
    std::string body;
    EXPECT_EQ(decoder.feed(std::string_view(message).substr(0, n), [&](std::string_view b) { body += b; }),
              n);
    EXPECT_FALSE(decoder.done()) << n;
    EXPECT_FALSE(decoder.failed()) << n;
  }
}

TEST(ChunkedDecoder, StreamsLargeChunksWithoutBuffering) {
  const std::string data(100000, 'x');
  const std::string message = "186a0\r\n" + data + "\r\n0\r\n\r\n";
  const Decoded d = decode(message, 4096);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.body, data);
  EXPECT_GT(d.sinkCalls, 20u) << "data is handed over slice by slice";
}

TEST(ChunkedDecoder, AcceptsTheLargestSizeAnnouncement) {
  ChunkedDecoder decoder;
  std::string body;
  const std::string_view in = "ffffffffffffffff\r\nabc";
  EXPECT_EQ(decoder.feed(in, [&](std::string_view b) { body += b; }), in.size());
  EXPECT_FALSE(decoder.failed());
  EXPECT_EQ(body, "abc");
}

TEST(ChunkedDecoder, RejectsExtensionsBeyondTheMetadataLimit) {
  ChunkedDecoder decoder;
  decoder.maxMetadataBytes = 32;
  const std::string ok = "1;" + std::string(24, 'e') + "\r\nx\r\n";  // 26 bytes of extension, 2 of trailer
  EXPECT_FALSE(decode(ok + "0\r\n\r\n", 7, decoder).failed);
  const std::string tooLong = "1;" + std::string(40, 'e') + "\r\nx\r\n0\r\n\r\n";
  EXPECT_TRUE(decode(tooLong, 7, decoder).failed);
}

TEST(ChunkedDecoder, RejectsTrailersBeyondTheMetadataLimit) {
  ChunkedDecoder decoder;
  decoder.maxMetadataBytes = 64;
  std::string trailers;
  for (int i = 0; i < 10; ++i) trailers += "X-T: 123456\r\n";
  EXPECT_TRUE(decode("0\r\n" + trailers + "\r\n", 1000, decoder).failed);
}

TEST(ChunkedDecoder, DoesNotConsumeAfterFailure) {
  ChunkedDecoder decoder;
  const std::size_t used = decoder.feed("zz\r\n", [](std::string_view) {});
  EXPECT_TRUE(decoder.failed());
  EXPECT_EQ(decoder.feed("0\r\n\r\n", [](std::string_view) {}), 0u);
  EXPECT_LE(used, 1u);
}

TEST(ChunkedDecoder, ResetStartsANewMessage) {
  ChunkedDecoder decoder;
  decoder.feed("1\r\na\r\n0\r\n\r\n", [](std::string_view) {});
  ASSERT_TRUE(decoder.done());
  decoder.reset();
  EXPECT_FALSE(decoder.done());
  EXPECT_EQ(decoder.bodyBytes(), 0u);
  std::string body;
  decoder.feed("2\r\nbc\r\n0\r\n\r\n", [&](std::string_view b) { body += b; });
  EXPECT_TRUE(decoder.done());
  EXPECT_EQ(body, "bc");
}

TEST(WriteChunkHeader, WritesLowercaseHexWithoutLeadingZeros) {
  char out[18];
  const auto header = [&](std::uint64_t n) { return std::string(out, writeChunkHeader(n, out)); };
  EXPECT_EQ(header(0), "0\r\n");
  EXPECT_EQ(header(1), "1\r\n");
  EXPECT_EQ(header(0xF), "f\r\n");
  EXPECT_EQ(header(0x10), "10\r\n");
  EXPECT_EQ(header(0x1a2b), "1a2b\r\n");
  EXPECT_EQ(header(0xFFFFFFFFFFFFFFFFull), "ffffffffffffffff\r\n");
  EXPECT_EQ(header(0x8000000000000000ull), "8000000000000000\r\n");
}

TEST(WriteChunkHeader, RoundTripsThroughTheDecoder) {
  std::string message;
  char header[18];
  for (std::size_t n : {1u, 15u, 16u, 255u, 4096u}) {
    message.append(header, writeChunkHeader(n, header));
    message += std::string(n, 'a' + static_cast<char>(n % 26)) + "\r\n";
  }
  message.append(header, writeChunkHeader(0, header));
  message += "\r\n";
  const Decoded d = decode(message, 100);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.body.size(), 1u + 15 + 16 + 255 + 4096);
  EXPECT_EQ(d.used, message.size());
}

}  // namespace
}  // namespace bulwark::h1
