// libFuzzer target: parseXml on arbitrary bytes. At most one XML:/* value; values and attribute values
// stay within the expansion budget whatever the entities; an error always has a message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "waf/body/body.h"

using namespace bulwark::waf::body;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.maxXmlNodes = 256;
  XmlResult r;
  parseXml(body, limits, r);

  std::size_t bytes = 0;
  for (const std::string& v : r.values) bytes += v.size();
  for (const std::string& v : r.attributeValues) bytes += v.size();
  if (r.values.size() > 1 || bytes > body.size() * 4 + 64 * 1024 || r.error != !r.errorMsg.empty()) {
    __builtin_trap();
  }
  return 0;
}
