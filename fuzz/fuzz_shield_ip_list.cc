// libFuzzer target: IpList::loadText() on arbitrary bytes, then lookups. Beyond memory safety it checks
// that every entry the loader kept is found again, both by has() and by a lookup of its own address.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shield/ip_list.h"

using namespace bulwark::shield;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  IpList list;
  std::vector<std::string> errors;
  const bool ok =
      IpList::loadText(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz", list, errors);
  if (ok != errors.empty() || errors.size() > IpList::kMaxErrors + 1) __builtin_trap();
  const std::vector<IpPrefix> entries = list.entries();
  if (entries.size() != list.size()) __builtin_trap();
  for (const IpPrefix& p : entries) {
    if (!list.has(p) || !list.contains(p.address)) __builtin_trap();
  }
  IpAddress probe;
  if (size >= 16) {
    probe = IpAddress::v6(data);
    IpPrefix longest;
    if (list.contains(probe) != list.longestMatch(probe, longest)) __builtin_trap();
  }
  return 0;
}
