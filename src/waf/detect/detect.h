// SQL injection and XSS detectors behind SecLang's @detectSQLi and @detectXSS.
//
// Our own tokenizer-and-fingerprint designs (libinjection is not packaged in Debian 12). Both are pure
// functions of the input bytes, allocation-free on the hot path, bounded in time (linear in input length)
// and safe on arbitrary bytes.
#pragma once

#include <string>
#include <string_view>

namespace bulwark::waf {

// True if `input` looks like SQL injection. On a match, `fingerprint` (if non-null) receives a short
// description of the token pattern that matched (ModSecurity puts libinjection's fingerprint in
// MATCHED_VAR-adjacent logs as "detected SQLi using libinjection with fingerprint 's&1'"; ours is our own).
bool detectSqli(std::string_view input, std::string* fingerprint = nullptr);

// True if `input` looks like cross-site scripting (HTML/JS injection).
bool detectXss(std::string_view input);

}  // namespace bulwark::waf
