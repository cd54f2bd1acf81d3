// libFuzzer target: detectXss() on arbitrary bytes. It must not crash and must be deterministic; a
// payload wrapped in a <script> element must always be detected.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "waf/detect/detect.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bool detected = bulwark::waf::detectXss(input);
  if (detected != bulwark::waf::detectXss(input)) __builtin_trap();
  if (!bulwark::waf::detectXss("<script>" + std::string(input))) __builtin_trap();
  return 0;
}
