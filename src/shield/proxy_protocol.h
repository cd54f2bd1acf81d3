// PROXY protocol v1 (text) and v2 (binary) header parser, HAProxy's proxy-protocol.txt.
//
// Contract (in the spirit of picohttpparser): parseProxyHeader() looks at the bytes received so far on a
// connection from a trusted proxy and returns exactly one of
//   - kDone:     a complete header is at the start of `data`; the first `consumed` bytes are the header
//                (v2 TLVs included, validated and skipped) and `out` describes it. The bytes after it are
//                the proxied stream (TLS or HTTP).
//   - kNeedMore: every byte so far is a valid prefix of a header; call again with more bytes (the parser is
//                stateless and re-parses from the start: a header is small and bounded).
//   - kError:    not a valid header; `error` says why. The connection must be closed.
// It never reads past data.size(), never allocates except for `error`, and never throws.
//
// What is accepted (strict at the edge; everything else is kError):
//   v1  "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" and the same with TCP6, exactly one space between
//       fields, at most 107 bytes. TCP4 addresses are dotted quads, TCP6 addresses contain ':' (an
//       IPv4-mapped TCP6 address is kept as the IPv4 address it maps). Ports are decimal 0-65535 with no
//       sign and no leading zero. "PROXY UNKNOWN" followed by anything up to CRLF is a local connection.
//   v2  the 12-byte signature, version 2; command LOCAL (family and addresses ignored: local) or PROXY with
//       family/transport TCP over IPv4 (0x11) or IPv6 (0x21) = addresses, or UNSPEC (0x00) = local.
//       UDP (0x12, 0x22) and UNIX sockets (0x31, 0x32) are refused: this gateway proxies TCP streams and
//       keys clients by IP, and a client we cannot name must not silently become the proxy's address.
//       The length must cover the address block; the TLVs after it must tile the rest exactly (their
//       content, CRC32C included, is not interpreted).
// A local header means "use the TCP peer address" (health checks from the proxy itself).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shield/ip_address.h"

namespace bulwark::shield {

enum class ProxyParseStatus { kNeedMore, kDone, kError };

struct ProxyHeader {
  int version = 0;            // 1 or 2
  bool local = false;         // v2 LOCAL or UNSPEC / v1 UNKNOWN: keep the TCP peer address
  bool hasAddresses = false;  // TCP over IPv4/IPv6 addresses present (then local is false)
  IpAddress src, dst;
  uint16_t srcPort = 0, dstPort = 0;
};

// A v1 header is at most 107 bytes (spec); v2 is 16 bytes plus a 16-bit length.
inline constexpr std::size_t kProxyV1MaxBytes = 107;
inline constexpr std::size_t kProxyV2HeaderBytes = 16;
// Default bound on a whole v2 header (TLVs included); a longer announced length is an error at once.
inline constexpr std::size_t kProxyDefaultMaxBytes = 4096;

// See the contract above. `maxBytes` bounds a v2 header (16 + length) and is clamped to at least 232 bytes
// (the 16-byte fixed part plus the 216-byte UNIX address block, the largest the spec defines). On kNeedMore
// and kError `out` and `consumed` are unspecified.
ProxyParseStatus parseProxyHeader(std::string_view data, ProxyHeader& out, std::size_t& consumed,
                                  std::string& error, std::size_t maxBytes = kProxyDefaultMaxBytes) noexcept;

}  // namespace bulwark::shield
