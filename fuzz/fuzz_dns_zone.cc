// libFuzzer target: zone text through libzscanner and ZoneBuilder (loadZoneText). A load either fails with a
// message or gives a zone whose records can all be walked and whose apex answers an SOA query.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dns/answer.h"

using namespace bulwark::dns;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const ZoneLoad r = loadZoneText("example.com", text, "fuzz");
  if (!r.zone) {
    if (r.error.empty()) __builtin_trap();
    return 0;
  }
  size_t records = 0;
  r.zone->forEachRecord([&](const RecordView& rv) {
    if (rv.owner == nullptr || !rv.owner->isSubdomainOf(r.zone->origin())) __builtin_trap();
    ++records;
  });
  if (records != r.zone->recordCount()) __builtin_trap();
  ZoneSet set;
  set.add(r.zone);
  // An SOA query for the apex and an A query for a name below it, over UDP.
  static uint8_t out[65535];
  for (const char* name : {"example.com", "www.example.com", "a.b.c.example.com"}) {
    uint8_t pkt[300] = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    Name n;
    if (!nameFromText(name, n)) __builtin_trap();
    size_t len = 12;
    for (size_t i = 0; i < n.len; ++i) pkt[len++] = n.data[i];
    const uint8_t tail[4] = {0, 255, 0, 1};  // ANY IN
    for (uint8_t b : tail) pkt[len++] = b;
    ParsedQuery q;
    if (parseQuery(pkt, len, q) != ParseResult::Ok) __builtin_trap();
    AnswerInfo info;
    const size_t m = answerQuery(set, q, pkt, len, AnswerOptions{}, out, 512, info);
    if (m < kHeaderSize || m > 512) __builtin_trap();
  }
  return 0;
}
