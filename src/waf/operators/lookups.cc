// @rbl and @geoLookup: operators that consult an outside source, which Bulwark does not have yet.
//
// @rbl: a DNS blocklist query per request would put a network round trip (and a resolver outage) on the
// request path, and this gateway makes no DNS queries from workers. The rule loads, so a CRS setup that
// names a blocklist still starts, and never matches; CRS 3.3 runs its @rbl rule (910120) only when
// tx.block_* blocklist settings are enabled, which a Bulwark deployment leaves off.
//
// @geoLookup: v2 without SecGeoLookupDB logs and does not match; so do we until a MaxMind database can
// be configured. TODO(#3): look the address up in the configured libmaxminddb database and fill GEO.
#include <memory>
#include <string>

#include "waf/operators/factories.h"
#include "waf/operators/util.h"

namespace bulwark::waf::operators {

namespace {

class NeverMatchOperator final : public Operator {
 public:
  bool match(OperatorContext&, std::string_view) const override { return false; }
};

}  // namespace

std::unique_ptr<Operator> createRbl(const OperatorArgs& args, std::string& error) {
  if (trimCSpace(args.param).empty()) {
    error = "missing parameter for operator @rbl";
    return nullptr;
  }
  return std::make_unique<NeverMatchOperator>();
}

std::unique_ptr<Operator> createGeoLookup(const OperatorArgs&, std::string&) {
  return std::make_unique<NeverMatchOperator>();
}

}  // namespace bulwark::waf::operators
