// libFuzzer target: parseProxyHeader() on arbitrary bytes. The first byte picks a maximum header size.
// Checks the contract: kDone consumes at least a v2 fixed part or "PROXY \r\n" and never more than the
// input or the limit; every strict prefix of a complete header needs more bytes (never an error, never
// done), and the same header parses the same way with trailing bytes after it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shield/proxy_protocol.h"

using namespace bulwark::shield;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t maxBytes = static_cast<std::size_t>(data[0]) * 64;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  ProxyHeader header;
  std::size_t consumed = 0;
  std::string error;
  const ProxyParseStatus status = parseProxyHeader(in, header, consumed, error, maxBytes);
  if (status == ProxyParseStatus::kError && error.empty()) __builtin_trap();
  if (status != ProxyParseStatus::kDone) return 0;
  if (consumed < 8 || consumed > in.size()) __builtin_trap();
  if (header.version == 1 && consumed > kProxyV1MaxBytes) __builtin_trap();
  if (header.version == 2 && consumed > (maxBytes < 232 ? 232 : maxBytes)) __builtin_trap();
  if (header.local == header.hasAddresses) __builtin_trap();
  for (std::size_t k = 0; k < consumed; ++k) {
    ProxyHeader partial;
    std::size_t used = 0;
    if (parseProxyHeader(in.substr(0, k), partial, used, error, maxBytes) != ProxyParseStatus::kNeedMore) {
      __builtin_trap();
    }
  }
  ProxyHeader again;
  std::size_t usedAgain = 0;
  if (parseProxyHeader(in.substr(0, consumed), again, usedAgain, error, maxBytes) !=
          ProxyParseStatus::kDone ||
      usedAgain != consumed || again.src != header.src || again.dst != header.dst ||
      again.srcPort != header.srcPort || again.dstPort != header.dstPort || again.local != header.local) {
    __builtin_trap();
  }
  return 0;
}
