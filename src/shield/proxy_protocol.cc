#include "shield/proxy_protocol.h"

#include <algorithm>
#include <cstring>

namespace bulwark::shield {

namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr unsigned char kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                            0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
// The largest address block the spec defines (two 108-byte UNIX paths): the floor of `maxBytes`.
constexpr std::size_t kV2MinLimit = kProxyV2HeaderBytes + 216;

constexpr uint8_t kCmdLocal = 0x0;
constexpr uint8_t kCmdProxy = 0x1;
constexpr uint8_t kFamUnspec = 0x00;
constexpr uint8_t kFamTcp4 = 0x11;
constexpr uint8_t kFamUdp4 = 0x12;
constexpr uint8_t kFamTcp6 = 0x21;
constexpr uint8_t kFamUdp6 = 0x22;
constexpr uint8_t kFamUnixStream = 0x31;
constexpr uint8_t kFamUnixDgram = 0x32;
constexpr std::size_t kTcp4Block = 12;  // 2 x 4-byte address, 2 x 2-byte port
constexpr std::size_t kTcp6Block = 36;  // 2 x 16-byte address, 2 x 2-byte port

ProxyParseStatus fail(std::string& error, const char* why) noexcept {
  error = why;
  return ProxyParseStatus::kError;
}

// True when the first min(size, prefix size) bytes of `data` equal those of `prefix`.
bool startsLike(std::string_view data, std::string_view prefix) noexcept {
  const std::size_t n = std::min(data.size(), prefix.size());
  return std::memcmp(data.data(), prefix.data(), n) == 0;
}

// Decimal 0-65535, no sign, no leading zero ("0" itself is fine).
bool parsePort(std::string_view text, uint16_t& port) noexcept {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  port = static_cast<uint16_t>(v);
  return true;
}

bool parseV1Address(std::string_view text, bool v6, IpAddress& out) noexcept {
  // TCP4 must be a dotted quad and TCP6 an IPv6 text: IpAddress::parse alone accepts either.
  if ((text.find(':') != std::string_view::npos) != v6) return false;
  return IpAddress::parse(text, out);
}

ProxyParseStatus parseV1(std::string_view data, ProxyHeader& out, std::size_t& consumed,
                         std::string& error) noexcept {
  if (data.size() < kV1Prefix.size()) return ProxyParseStatus::kNeedMore;
  // The line ends with CRLF; the CR is at index <= 105 so that the whole line fits in 107 bytes.
  const std::size_t crLimit = std::min(data.size(), kProxyV1MaxBytes - 1);
  std::size_t end = std::string_view::npos;
  for (std::size_t i = kV1Prefix.size(); i < crLimit; ++i) {
    const char c = data[i];
    if (c == '\n') return fail(error, "v1: LF without CR");
    if (c == '\r') {
      end = i;
      break;
    }
  }
  if (end == std::string_view::npos) {
    if (data.size() >= kProxyV1MaxBytes - 1) return fail(error, "v1: line longer than 107 bytes");
    return ProxyParseStatus::kNeedMore;
  }
  if (end + 1 >= data.size()) return ProxyParseStatus::kNeedMore;
  if (data[end + 1] != '\n') return fail(error, "v1: CR not followed by LF");

  const std::string_view line = data.substr(kV1Prefix.size(), end - kV1Prefix.size());
  out = ProxyHeader{};
  out.version = 1;
  consumed = end + 2;
  constexpr std::string_view kUnknown = "UNKNOWN";
  if (line.substr(0, kUnknown.size()) == kUnknown &&
      (line.size() == kUnknown.size() || line[kUnknown.size()] == ' ')) {
    out.local = true;  // the spec: anything after UNKNOWN up to CRLF is ignored
    return ProxyParseStatus::kDone;
  }

  std::string_view fields[5];
  std::size_t count = 0;
  std::size_t start = 0;
  for (;;) {
    const std::size_t space = line.find(' ', start);
    const std::string_view field =
        line.substr(start, space == std::string_view::npos ? space : space - start);
    if (field.empty()) return fail(error, "v1: empty field (double or trailing space)");
    if (count == 5) return fail(error, "v1: too many fields");
    fields[count++] = field;
    if (space == std::string_view::npos) break;
    start = space + 1;
  }
  bool v6;
  if (fields[0] == "TCP4") {
    v6 = false;
  } else if (fields[0] == "TCP6") {
    v6 = true;
  } else {
    return fail(error, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
  }
  if (count != 5) return fail(error, "v1: expected 5 fields after PROXY");
  if (!parseV1Address(fields[1], v6, out.src) || !parseV1Address(fields[2], v6, out.dst)) {
    return fail(error, "v1: address does not parse for the protocol");
  }
  if (!parsePort(fields[3], out.srcPort) || !parsePort(fields[4], out.dstPort)) {
    return fail(error, "v1: port is not decimal 0-65535");
  }
  out.hasAddresses = true;
  return ProxyParseStatus::kDone;
}

uint16_t be16(const unsigned char* p) noexcept { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

ProxyParseStatus parseV2(std::string_view data, ProxyHeader& out, std::size_t& consumed, std::string& error,
                         std::size_t maxBytes) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  if (data.size() < 13) return ProxyParseStatus::kNeedMore;
  if ((p[12] >> 4) != 2) return fail(error, "v2: unsupported version");
  const uint8_t command = p[12] & 0x0F;
  if (command != kCmdLocal && command != kCmdProxy) return fail(error, "v2: unsupported command");
  if (data.size() < 14) return ProxyParseStatus::kNeedMore;
  const uint8_t family = p[13];
  std::size_t block = 0;
  if (command == kCmdProxy) {
    switch (family) {
      case kFamUnspec:
        break;
      case kFamTcp4:
        block = kTcp4Block;
        break;
      case kFamTcp6:
        block = kTcp6Block;
        break;
      case kFamUdp4:
      case kFamUdp6:
        return fail(error, "v2: UDP is not supported");
      case kFamUnixStream:
      case kFamUnixDgram:
        return fail(error, "v2: UNIX sockets are not supported");
      default:
        return fail(error, "v2: invalid address family or transport");
    }
  }
  if (data.size() < kProxyV2HeaderBytes) return ProxyParseStatus::kNeedMore;
  const std::size_t length = be16(p + 14);
  const std::size_t total = kProxyV2HeaderBytes + length;
  if (total > std::max(maxBytes, kV2MinLimit)) return fail(error, "v2: header longer than the limit");
  if (length < block) return fail(error, "v2: length shorter than the address block");
  if (data.size() < total) return ProxyParseStatus::kNeedMore;

  out = ProxyHeader{};
  out.version = 2;
  consumed = total;
  if (block == 0) {  // LOCAL (any family), or PROXY UNSPEC: the block is discarded unread
    out.local = true;
    return ProxyParseStatus::kDone;
  }
  const unsigned char* a = p + kProxyV2HeaderBytes;
  if (family == kFamTcp4) {
    out.src = IpAddress::v4(static_cast<uint32_t>(a[0]) << 24 | static_cast<uint32_t>(a[1]) << 16 |
                            static_cast<uint32_t>(a[2]) << 8 | a[3]);
    out.dst = IpAddress::v4(static_cast<uint32_t>(a[4]) << 24 | static_cast<uint32_t>(a[5]) << 16 |
                            static_cast<uint32_t>(a[6]) << 8 | a[7]);
    out.srcPort = be16(a + 8);
    out.dstPort = be16(a + 10);
  } else {
    out.src = IpAddress::v6(a);
    out.dst = IpAddress::v6(a + 16);
    out.srcPort = be16(a + 32);
    out.dstPort = be16(a + 34);
  }
  // TLVs: type (1), length (2, big-endian), value; they must fill the rest of the header exactly.
  std::size_t off = kProxyV2HeaderBytes + block;
  while (off < total) {
    if (total - off < 3) return fail(error, "v2: truncated TLV");
    const std::size_t tlvLength = be16(p + off + 1);
    if (tlvLength > total - off - 3) return fail(error, "v2: TLV overruns the header");
    off += 3 + tlvLength;
  }
  out.hasAddresses = true;
  return ProxyParseStatus::kDone;
}

}  // namespace

ProxyParseStatus parseProxyHeader(std::string_view data, ProxyHeader& out, std::size_t& consumed,
                                  std::string& error, std::size_t maxBytes) noexcept {
  if (data.empty()) return ProxyParseStatus::kNeedMore;
  if (data[0] == 'P') {
    if (!startsLike(data, kV1Prefix)) return fail(error, "not a PROXY protocol header");
    return parseV1(data, out, consumed, error);
  }
  if (!startsLike(data, std::string_view(reinterpret_cast<const char*>(kV2Signature), sizeof kV2Signature))) {
    return fail(error, "not a PROXY protocol header");
  }
  if (data.size() < sizeof kV2Signature) return ProxyParseStatus::kNeedMore;
  return parseV2(data, out, consumed, error, maxBytes);
}

}  // namespace bulwark::shield
