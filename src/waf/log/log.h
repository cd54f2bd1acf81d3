// WAF logs: ModSecurity-format error-log lines (one per matched rule) and a JSON audit log record (one per
// transaction with matches), both with sensitive data masked (PCI DSS): card numbers (Luhn-valid runs of
// 13-19 digits, with or without spaces/dashes), the values of Authorization, Proxy-Authorization, Cookie
// and Set-Cookie headers, and the values of password-like arguments never reach a log.
#pragma once

#include <string>
#include <string_view>

#include "waf/engine/transaction.h"

namespace bulwark::waf {

// Appends one line (ending in '\n') for `m` in ModSecurity's error-log format:
//   ModSecurity: Warning. Matched "Operator `Rx' with parameter `...' against variable `ARGS:q' (Value: `...' )
//   [file "..."] [line "..."] [id "942100"] [msg "..."] [data "..."] [severity "CRITICAL"] [ver "..."]
//   [tag "..."] [hostname "..."] [uri "..."] [unique_id "..."]
// prefixed with "[time] [client IP] " like Apache's error log, so CRS tooling and SIEM parsers read it.
void appendErrorLogLine(std::string& out, const Transaction& tx, const RuleMatch& m);

// Appends one JSON audit record (ModSecurity 3 JSON layout: {"transaction":{...}}) and '\n'.
// `requestHeaders`/`responseHeaders` are taken from the transaction; `status` is the status sent.
void appendAuditRecord(std::string& out, const Transaction& tx, int status);

// Masks card numbers in `text` (all digits but the last four become '*').
std::string maskCardNumbers(std::string_view text);
// True for argument or header names whose values are always masked (password, passwd, pwd, secret,
// token, api_key, authorization, cookie, set-cookie, ...; case-insensitive, substring for args).
bool isSensitiveName(std::string_view name);
// The value as it may appear in a log: fully masked for sensitive names, else card numbers masked.
std::string maskedValue(std::string_view name, std::string_view value);
// The logdata of a match as it may appear in a log (dropped for sensitive variables, cards masked).
std::string maskedData(const RuleMatch& m);

}  // namespace bulwark::waf
