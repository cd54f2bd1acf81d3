// libFuzzer target: parseRequestHead() on arbitrary bytes, then the chunked body if there is one.
// Beyond memory safety it checks the contract: the views point into the head, and a prefix of the input
// is either incomplete or gives the very same answer (so a byte-at-a-time client cannot change framing).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/h1/chunked.h"
#include "http/h1/parser.h"

using namespace bulwark::h1;

static bool sameAnswer(const ParseResult& a, const ParseResult& b) {
  return a.status == b.status && a.error == b.error && a.consumed == b.consumed;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const Limits limits{.maxRequestLine = 512, .maxHeaderBytes = 2048, .maxHeaders = 16};
  static RequestHead head, prefixHead;  // static: capacity is reused across runs, as in the gateway
  const ParseResult r = parseRequestHead(in, limits, head);
  const ParseResult half = parseRequestHead(in.substr(0, size / 2), limits, prefixHead);
  if (half.status != ParseStatus::kIncomplete && !sameAnswer(half, r)) __builtin_trap();
  if (r.status != ParseStatus::kComplete) return 0;

  const std::string_view headBytes = in.substr(0, r.consumed);
  if (r.consumed == 0 || r.consumed > limits.maxHeaderBytes || head.headers.size() > limits.maxHeaders)
    __builtin_trap();
  if (parseRequestHead(headBytes.substr(0, r.consumed - 1), limits, prefixHead).status !=
      ParseStatus::kIncomplete) {
    __builtin_trap();
  }
  const auto inside = [&](std::string_view v) {
    return v.data() >= headBytes.data() && v.end() <= headBytes.end();
  };
  if (!inside(head.method) || !inside(head.target) || head.method.empty() || head.target.empty())
    __builtin_trap();
  for (const Header& h : head.headers) {
    if (!inside(h.name) || !inside(h.value) || h.name.empty()) __builtin_trap();
  }
  if (head.framing == BodyFraming::kUntilClose) __builtin_trap();
  if (head.framing == BodyFraming::kChunked) {
    ChunkedDecoder decoder;
    std::uint64_t bytes = 0;
    const std::size_t used =
        decoder.feed(in.substr(r.consumed), [&](std::string_view b) { bytes += b.size(); });
    if (used > size - r.consumed || bytes != decoder.bodyBytes()) __builtin_trap();
  }
  return 0;
}
