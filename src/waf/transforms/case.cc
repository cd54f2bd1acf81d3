// lowercase, uppercase: ASCII case mapping (C locale), so UTF-8 and other bytes >= 0x80 pass through.
// uppercase is not a v2 transformation; it follows libmodsecurity v3, which added it.
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {

bool lowercase(std::string_view in, std::string& out) { return mapEachByte(in, out, kToLower); }

bool uppercase(std::string_view in, std::string& out) { return mapEachByte(in, out, kToUpper); }

}  // namespace bulwark::waf::transforms
