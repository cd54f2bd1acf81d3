// Private: the create() function of every operator, listed once in the registry (operators.cc).
// Each returns nullptr and sets `error` for a parameter it cannot use.
#pragma once

#include <memory>
#include <string>

#include "waf/operators/operator.h"

namespace bulwark::waf::operators {

using Factory = std::unique_ptr<Operator> (*)(const OperatorArgs& args, std::string& error);

// rx.cc
std::unique_ptr<Operator> createRx(const OperatorArgs& args, std::string& error);
// pm.cc
std::unique_ptr<Operator> createPm(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createPmFromFile(const OperatorArgs& args, std::string& error);
// strings.cc
std::unique_ptr<Operator> createStreq(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createBeginsWith(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createEndsWith(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createContains(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createContainsWord(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createWithin(const OperatorArgs& args, std::string& error);
// strmatch.cc
std::unique_ptr<Operator> createStrmatch(const OperatorArgs& args, std::string& error);
// numeric.cc
std::unique_ptr<Operator> createEq(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createNe(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createGe(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createGt(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createLe(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createLt(const OperatorArgs& args, std::string& error);
// ip_match.cc
std::unique_ptr<Operator> createIpMatch(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createIpMatchFromFile(const OperatorArgs& args, std::string& error);
// validate_byte_range.cc, validate_url_encoding.cc, validate_utf8_encoding.cc
std::unique_ptr<Operator> createValidateByteRange(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createValidateUrlEncoding(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createValidateUtf8Encoding(const OperatorArgs& args, std::string& error);
// constant.cc
std::unique_ptr<Operator> createUnconditionalMatch(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createNoMatch(const OperatorArgs& args, std::string& error);
// verify.cc
std::unique_ptr<Operator> createVerifyCc(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createVerifySsn(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createVerifyCpf(const OperatorArgs& args, std::string& error);
// detect.cc
std::unique_ptr<Operator> createDetectSqli(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createDetectXss(const OperatorArgs& args, std::string& error);
// lookups.cc
std::unique_ptr<Operator> createRbl(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createGeoLookup(const OperatorArgs& args, std::string& error);
// unsupported.cc
std::unique_ptr<Operator> createInspectFile(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createFuzzyHash(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createGsbLookup(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createValidateDtd(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createValidateSchema(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createValidateHash(const OperatorArgs& args, std::string& error);
std::unique_ptr<Operator> createRsub(const OperatorArgs& args, std::string& error);

}  // namespace bulwark::waf::operators
