#include "waf/operators/ip_set.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "waf/operators/util.h"

namespace bulwark::waf::operators {

namespace {

// Long enough for any textual IPv6 address (INET6_ADDRSTRLEN is 46).
constexpr std::size_t kMaxAddressText = 63;

bool parseV4(std::string_view text, std::uint32_t& out) {
  if (text.size() > kMaxAddressText) return false;
  char buffer[kMaxAddressText + 1];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  in_addr addr{};
  if (inet_pton(AF_INET, buffer, &addr) != 1) return false;
  out = ntohl(addr.s_addr);
  return true;
}

bool parseV6(std::string_view text, unsigned __int128& out) {
  if (text.size() > kMaxAddressText) return false;
  char buffer[kMaxAddressText + 1];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  in6_addr addr{};
  if (inet_pton(AF_INET6, buffer, &addr) != 1) return false;
  unsigned __int128 value = 0;
  for (unsigned char byte : addr.s6_addr) value = (value << 8) | byte;
  out = value;
  return true;
}

std::uint32_t maskV4(std::uint32_t address, int prefix) {
  return prefix == 0 ? 0 : address & (~std::uint32_t{0} << (32 - prefix));
}

unsigned __int128 maskV6(unsigned __int128 address, int prefix) {
  return prefix == 0 ? 0 : address & (~static_cast<unsigned __int128>(0) << (128 - prefix));
}

bool parsePrefix(std::string_view text, int maximum, int& out) {
  if (text.empty() || text.size() > 3) return false;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value > maximum) return false;
  out = value;
  return true;
}

template <typename Block, typename Value>
void insert(std::vector<Block>& blocks, int prefix, Value network) {
  for (Block& block : blocks) {
    if (block.prefix == prefix) {
      block.networks.push_back(network);
      return;
    }
  }
  blocks.push_back(Block{prefix, {network}});
}

}  // namespace

bool IpSet::add(std::string_view entry, std::string& error) {
  std::string_view text = trimCSpace(entry);
  std::size_t slash = text.find('/');
  std::string_view address = text.substr(0, slash);
  bool isV6 = address.find(':') != std::string_view::npos;
  int prefix = isV6 ? 128 : 32;
  if (slash != std::string_view::npos && !parsePrefix(text.substr(slash + 1), prefix, prefix)) {
    error = "invalid network mask in \"" + std::string(text) + "\"";
    return false;
  }
  if (isV6) {
    unsigned __int128 value = 0;
    if (!parseV6(address, value)) {
      error = "invalid IPv6 address \"" + std::string(text) + "\"";
      return false;
    }
    insert(v6_, prefix, maskV6(value, prefix));
  } else {
    std::uint32_t value = 0;
    if (!parseV4(address, value)) {
      error = "invalid IPv4 address \"" + std::string(text) + "\"";
      return false;
    }
    insert(v4_, prefix, maskV4(value, prefix));
  }
  return true;
}

void IpSet::finish() {
  for (V4Block& block : v4_) std::sort(block.networks.begin(), block.networks.end());
  for (V6Block& block : v6_) std::sort(block.networks.begin(), block.networks.end());
}

bool IpSet::contains(std::string_view value) const noexcept {
  if (value.find(':') != std::string_view::npos) {
    unsigned __int128 address = 0;
    if (!parseV6(value, address)) return false;
    for (const V6Block& block : v6_) {
      if (std::binary_search(block.networks.begin(), block.networks.end(), maskV6(address, block.prefix))) {
        return true;
      }
    }
    return false;
  }
  std::uint32_t address = 0;
  if (!parseV4(value, address)) return false;
  for (const V4Block& block : v4_) {
    if (std::binary_search(block.networks.begin(), block.networks.end(), maskV4(address, block.prefix))) {
      return true;
    }
  }
  return false;
}

}  // namespace bulwark::waf::operators
