// SecLang operators Bulwark refuses at load, so a rule set that relies on one fails loudly instead of
// running with a rule that can never fire:
//   @inspectFile     runs an external program per uploaded file (process spawn on the request path)
//   @fuzzyHash       needs ssdeep, not packaged for us
//   @gsbLookup       needs a Google Safe Browsing database, a service long retired in this form
//   @validateDTD, @validateSchema   need the XML body processor's document (not available to operators)
//   @validateHash, @rsub            belong to v2's response-rewriting/HMAC features, not implemented
// CRS 3.3 uses none of them.
#include <memory>
#include <string>

#include "waf/operators/factories.h"

namespace bulwark::waf::operators {

namespace {

std::unique_ptr<Operator> refuse(const char* name, std::string& error) {
  error = std::string("operator @") + name + " is not supported";
  return nullptr;
}

}  // namespace

std::unique_ptr<Operator> createInspectFile(const OperatorArgs&, std::string& error) {
  return refuse("inspectFile", error);
}
std::unique_ptr<Operator> createFuzzyHash(const OperatorArgs&, std::string& error) {
  return refuse("fuzzyHash", error);
}
std::unique_ptr<Operator> createGsbLookup(const OperatorArgs&, std::string& error) {
  return refuse("gsbLookup", error);
}
std::unique_ptr<Operator> createValidateDtd(const OperatorArgs&, std::string& error) {
  return refuse("validateDTD", error);
}
std::unique_ptr<Operator> createValidateSchema(const OperatorArgs&, std::string& error) {
  return refuse("validateSchema", error);
}
std::unique_ptr<Operator> createValidateHash(const OperatorArgs&, std::string& error) {
  return refuse("validateHash", error);
}
std::unique_ptr<Operator> createRsub(const OperatorArgs&, std::string& error) {
  return refuse("rsub", error);
}

}  // namespace bulwark::waf::operators
