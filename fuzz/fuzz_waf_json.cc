// libFuzzer target: parseJson on arbitrary bytes, checked against simdjson's DOM parser both ways: what it
// accepts is refused only for a limit, what it refuses is refused too; limits hold; errors have a message.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "waf/body/body.h"

using namespace bulwark::waf::body;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.maxArgs = 64;
  limits.maxJsonDepth = 16;
  JsonResult r;
  parseJson(body, limits, r);

  std::size_t outputBytes = 0;
  for (const auto& [name, value] : r.args) outputBytes += name.size() + value.size();
  if (r.args.size() > limits.maxArgs || outputBytes > body.size() * 4 + 256 * 1024 ||
      r.error != !r.errorMsg.empty()) {
    __builtin_trap();
  }
  if (body.empty()) return 0;
  simdjson::dom::parser dom;
  const simdjson::error_code domError = dom.parse(simdjson::padded_string(body)).error();
  const bool limitHit = r.errorMsg.find("depth limit") != std::string::npos ||
                        r.errorMsg.find("More than") != std::string::npos;
  // The DOM parser refuses numbers outside double's range, which are kept as text here (as v2 does).
  if ((domError == simdjson::SUCCESS && r.error && !limitHit) ||
      (domError != simdjson::SUCCESS && domError != simdjson::NUMBER_ERROR && !r.error)) {
    __builtin_trap();
  }
  return 0;
}
