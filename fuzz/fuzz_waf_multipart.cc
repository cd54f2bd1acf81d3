// libFuzzer target: parseMultipart on arbitrary bytes. The first line is the Content-Type, the rest the
// body. Nothing may be reported that the body does not hold, limits hold, and MULTIPART_STRICT_ERROR is
// v2's OR of the flags.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "waf/body/body.h"

using namespace bulwark::waf::body;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = in.find('\n');
  const std::string_view contentType = in.substr(0, newline);
  const std::string_view body =
      newline == std::string_view::npos ? std::string_view() : in.substr(newline + 1);
  Limits limits;
  limits.maxArgs = 8;
  limits.maxParts = 16;
  limits.maxFiles = 2;
  MultipartResult r;
  parseMultipart(contentType, body, limits, r);

  std::size_t valueBytes = 0;
  for (const auto& [name, value] : r.args) valueBytes += value.size();
  for (const MultipartFile& f : r.files) valueBytes += f.size;
  const MultipartFlags& f = r.flags;
  const bool anyFlag = r.error || f.boundaryQuoted || f.boundaryWhitespace || f.dataBefore || f.dataAfter ||
                       f.headerFolding || f.lfLine || f.missingSemicolon || f.invalidQuoting ||
                       f.invalidPart || f.invalidHeaderFolding || f.fileLimitExceeded;
  if (valueBytes > body.size() || r.args.size() > limits.maxArgs ||
      r.args.size() + r.files.size() > limits.maxParts || f.strictError != anyFlag ||
      (f.crlfLfLines && !f.lfLine) || r.error != !r.errorMsg.empty()) {
    __builtin_trap();
  }
  return 0;
}
