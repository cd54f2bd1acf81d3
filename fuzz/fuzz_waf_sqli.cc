// libFuzzer target: detectSqli() on arbitrary bytes. It must not crash, must give the same verdict with
// and without a fingerprint, and a detection must come with a non-empty fingerprint.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "waf/detect/detect.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string fingerprint;
  const bool detected = bulwark::waf::detectSqli(input, &fingerprint);
  if (detected != bulwark::waf::detectSqli(input) || detected == fingerprint.empty()) __builtin_trap();
  return 0;
}
