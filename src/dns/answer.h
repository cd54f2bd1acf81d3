// Authoritative answers (RFC 1034 §4.3.2, 2308, 4592, 6672, 6891, 8482) over a ZoneSet, matching NSD 4.6's
// choices where the RFCs leave room (docs/dns-zones.md lists them). No allocation per query.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dns/wire.h"
#include "dns/zone.h"

namespace bulwark::dns {

enum class ResponseClass : uint8_t { Positive, NxDomain, NoData, Referral, Error, Any };

struct AnswerOptions {
  bool tcp = false;
  const uint8_t* serverCookie = nullptr;  // put into the OPT COOKIE option
  uint8_t serverCookieLen = 0;
  // Our EDNS UDP payload size: advertised in the OPT and the cap for UDP answers (NSD's ipv4-edns-size).
  uint16_t ednsUdpSize = 1232;
};

struct AnswerInfo {
  Rcode rcode = Rcode::NoError;
  ResponseClass cls = ResponseClass::Error;
  bool truncated = false;
  const Zone* zone = nullptr;  // the zone that answered, or nullptr
};

// Writes the full response into out (cap >= 65535 for TCP; UDP limit from EDNS or 512). Returns length
// (0 only when `cap` cannot hold even a header).
size_t answerQuery(const ZoneSet&, const ParsedQuery&, const uint8_t* pkt, size_t len, const AnswerOptions&,
                   uint8_t* out, size_t cap, AnswerInfo& info);

// For FORMERR/NOTIMP/REFUSED without a parsed question (best effort: echo id, question if parseable).
size_t errorResponse(const uint8_t* pkt, size_t len, Rcode rcode, uint8_t* out, size_t cap);

}  // namespace bulwark::dns
