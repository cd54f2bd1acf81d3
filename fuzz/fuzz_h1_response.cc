// libFuzzer target: parseResponseHead() on arbitrary bytes. The first byte picks the request method
// (framing depends on it); the rest is the response. Checks the same prefix and view invariants as
// fuzz_h1_request.cc, and that framing never contradicts RFC 9112 6.3.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/h1/parser.h"

using namespace bulwark::h1;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static constexpr std::string_view kMethods[] = {"GET", "HEAD", "CONNECT", "POST"};
  const std::string_view method = kMethods[data[0] % 4];
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Limits limits{.maxRequestLine = 512, .maxHeaderBytes = 2048, .maxHeaders = 16};
  static ResponseHead head, prefixHead;
  const ParseResult r = parseResponseHead(in, limits, method, head);
  const ParseResult half = parseResponseHead(in.substr(0, in.size() / 2), limits, method, prefixHead);
  if (half.status != ParseStatus::kIncomplete &&
      (half.status != r.status || half.error != r.error || half.consumed != r.consumed)) {
    __builtin_trap();
  }
  if (r.status != ParseStatus::kComplete) return 0;

  if (r.consumed == 0 || r.consumed > limits.maxHeaderBytes) __builtin_trap();
  if (head.status < 100 || head.status > 599) __builtin_trap();
  const bool noBody = method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304 ||
                      (method == "CONNECT" && head.status < 300);
  if (noBody != (head.framing == BodyFraming::kNone)) __builtin_trap();
  if (head.framing == BodyFraming::kUntilClose && head.keepAlive) __builtin_trap();
  return 0;
}
