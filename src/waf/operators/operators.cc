// The operator registry: every SecLang operator name Bulwark knows, listed once. A name not listed here
// is unknown and the rule fails to load (findOperator returns nullptr). The table is constant data, so it
// is frozen before any worker starts.
#include <array>
#include <string_view>

#include "waf/operators/factories.h"
#include "waf/operators/operator.h"
#include "waf/operators/util.h"

namespace bulwark::waf {

namespace {

using namespace operators;

constexpr std::array kOperators = {
    OperatorInfo{"beginsWith", createBeginsWith},
    OperatorInfo{"contains", createContains},
    OperatorInfo{"containsWord", createContainsWord},
    OperatorInfo{"detectSQLi", createDetectSqli},
    OperatorInfo{"detectXSS", createDetectXss},
    OperatorInfo{"endsWith", createEndsWith},
    OperatorInfo{"eq", createEq},
    OperatorInfo{"fuzzyHash", createFuzzyHash},
    OperatorInfo{"ge", createGe},
    OperatorInfo{"geoLookup", createGeoLookup},
    OperatorInfo{"gsbLookup", createGsbLookup},
    OperatorInfo{"gt", createGt},
    OperatorInfo{"inspectFile", createInspectFile},
    OperatorInfo{"ipMatch", createIpMatch},
    OperatorInfo{"ipMatchFromFile", createIpMatchFromFile},
    OperatorInfo{"le", createLe},
    OperatorInfo{"lt", createLt},
    OperatorInfo{"ne", createNe},
    OperatorInfo{"noMatch", createNoMatch},
    OperatorInfo{"pm", createPm},
    OperatorInfo{"pmFromFile", createPmFromFile},
    OperatorInfo{"rbl", createRbl},
    OperatorInfo{"rsub", createRsub},
    OperatorInfo{"rx", createRx},
    OperatorInfo{"streq", createStreq},
    OperatorInfo{"strmatch", createStrmatch},
    OperatorInfo{"unconditionalMatch", createUnconditionalMatch},
    OperatorInfo{"validateByteRange", createValidateByteRange},
    OperatorInfo{"validateDTD", createValidateDtd},
    OperatorInfo{"validateHash", createValidateHash},
    OperatorInfo{"validateSchema", createValidateSchema},
    OperatorInfo{"validateUrlEncoding", createValidateUrlEncoding},
    OperatorInfo{"validateUtf8Encoding", createValidateUtf8Encoding},
    OperatorInfo{"verifyCC", createVerifyCc},
    OperatorInfo{"verifyCPF", createVerifyCpf},
    OperatorInfo{"verifySSN", createVerifySsn},
    OperatorInfo{"within", createWithin},
};

// Other spellings v2 accepts, each mapped to the canonical name above.
struct Alias {
  std::string_view alias;
  std::string_view canonical;
};
constexpr std::array kAliases = {
    Alias{"pmf", "pmFromFile"},
    Alias{"ipMatchF", "ipMatchFromFile"},
};

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (asciiLower(static_cast<unsigned char>(a[i])) != asciiLower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

const OperatorInfo* findCanonical(std::string_view name) noexcept {
  for (const OperatorInfo& info : kOperators) {
    if (equalsIgnoreCase(info.name, name)) return &info;
  }
  return nullptr;
}

}  // namespace

const OperatorInfo* findOperator(std::string_view name) noexcept {
  if (const OperatorInfo* info = findCanonical(name)) return info;
  for (const Alias& alias : kAliases) {
    if (equalsIgnoreCase(alias.alias, name)) return findCanonical(alias.canonical);
  }
  return nullptr;
}

}  // namespace bulwark::waf
