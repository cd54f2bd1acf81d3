// libFuzzer target: ChunkedDecoder on arbitrary bytes. The first byte sets a slice size; decoding in
// slices must give exactly what decoding at once gives. A decoded body re-encoded with
// writeChunkHeader() must decode back to itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/h1/chunked.h"

using namespace bulwark::h1;

namespace {

struct Run {
  std::string body;
  std::size_t used = 0;
  bool done = false;
  bool failed = false;
};

Run decode(std::string_view in, std::size_t slice) {
  ChunkedDecoder decoder;
  decoder.maxMetadataBytes = 256;
  Run run;
  while (run.used < in.size() && !decoder.done() && !decoder.failed()) {
    run.used += decoder.feed(in.substr(run.used, slice), [&](std::string_view b) { run.body += b; });
  }
  if (decoder.bodyBytes() != run.body.size()) __builtin_trap();
  run.done = decoder.done();
  run.failed = decoder.failed();
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t slice = data[0] % 32 + 1;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Run whole = decode(in, in.size() + 1);
  const Run sliced = decode(in, slice);
  if (whole.body != sliced.body || whole.done != sliced.done || whole.failed != sliced.failed ||
      whole.used != sliced.used || whole.used > in.size() || (whole.done && whole.failed)) {
    __builtin_trap();
  }
  if (!whole.done) return 0;

  char header[18];
  std::string encoded;
  if (!whole.body.empty()) {  // a zero-size chunk would be the last chunk
    encoded.append(header, writeChunkHeader(whole.body.size(), header));
    encoded += whole.body + "\r\n";
  }
  encoded += "0\r\n\r\n";
  const Run again = decode(encoded, slice);
  if (!again.done || again.body != whole.body || again.used != encoded.size()) __builtin_trap();
  return 0;
}
