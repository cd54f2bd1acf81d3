#include "waf/log/log.h"

#include <cctype>
#include <ctime>
#include <vector>

#include "core/log.h"

namespace bulwark::waf {

namespace {

bool containsNoCase(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    bool eq = true;
    for (std::size_t k = 0; k < needle.size() && eq; ++k) {
      eq = std::tolower(static_cast<unsigned char>(hay[i + k])) == needle[k];
    }
    if (eq) return true;
  }
  return false;
}

bool luhnValid(std::string_view digits) {
  int sum = 0;
  bool dbl = false;
  for (std::size_t i = digits.size(); i-- > 0;) {
    int d = digits[i] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

// Escapes a value for a [key "value"] field: quotes and backslashes escaped, control bytes as \xHH.
void appendField(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
}

std::string operatorTitle(std::string_view name) {
  std::string t(name);
  if (!t.empty()) t[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(t[0])));
  return t;
}

}  // namespace

namespace {
bool isAlnumByte(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Digit groups as card numbers are written: one run of 13-19 digits, or groups separated by one space or
// dash in the usual layouts (4-4-4-4[-1..3], Amex 4-6-5, Diners 4-6-4). Anything else (dates, ids like
// "944300-10-0", phone numbers) is not a card number, which keeps logs readable and markers intact.
bool cardLayout(const std::vector<std::size_t>& groups) {
  if (groups.size() == 1) return groups[0] >= 13 && groups[0] <= 19;
  if (groups.size() == 3 && groups[0] == 4 && groups[1] == 6 && (groups[2] == 5 || groups[2] == 4))
    return true;
  if (groups.size() < 4 || groups.size() > 5) return false;
  for (std::size_t i = 0; i < 4; ++i) {
    if (groups[i] != 4) return false;
  }
  return groups.size() == 4 || (groups[4] >= 1 && groups[4] <= 3);
}
}  // namespace

std::string maskCardNumbers(std::string_view text) {
  std::string out(text);
  std::size_t i = 0;
  while (i < out.size()) {
    if (!std::isdigit(static_cast<unsigned char>(out[i])) || (i > 0 && isAlnumByte(out[i - 1]))) {
      ++i;
      continue;
    }
    // A run of digit groups joined by single spaces or dashes, not glued to letters or digits around it.
    std::size_t j = i;
    std::vector<std::size_t> groups;
    std::string digits;
    for (;;) {
      std::size_t g = 0;
      while (j < out.size() && std::isdigit(static_cast<unsigned char>(out[j]))) {
        digits += out[j++];
        ++g;
      }
      groups.push_back(g);
      if (j + 1 < out.size() && (out[j] == ' ' || out[j] == '-') &&
          std::isdigit(static_cast<unsigned char>(out[j + 1])) && digits.size() < 19) {
        ++j;
        continue;
      }
      break;
    }
    const bool bounded = j >= out.size() || !isAlnumByte(out[j]);
    auto maskRange = [&out](std::size_t from, std::size_t to, std::size_t count) {
      for (std::size_t k = from; k < to; ++k) {
        if (std::isdigit(static_cast<unsigned char>(out[k]))) {
          if (count > 4) out[k] = '*';
          --count;
        }
      }
    };
    if (bounded && digits.size() >= 13 && digits.size() <= 19 && cardLayout(groups) && luhnValid(digits)) {
      maskRange(i, j, digits.size());
    } else {
      // Not one card as a whole: a single group may still be one ("ref 12-4111111111111111"). Over-masking
      // is the safe side for a log.
      std::size_t k = i;
      std::size_t offset = 0;
      for (std::size_t g = 0; g < groups.size(); ++g) {
        std::string_view groupDigits = std::string_view(digits).substr(offset, groups[g]);
        const bool last = g + 1 == groups.size();
        if (groups[g] >= 13 && groups[g] <= 19 && (!last || bounded) && luhnValid(groupDigits)) {
          maskRange(k, k + groups[g], groups[g]);
        }
        k += groups[g] + 1;
        offset += groups[g];
      }
    }
    i = j;
  }
  return out;
}

bool isSensitiveName(std::string_view name) {
  // Cookie values are session credentials, whatever the cookie is called.
  if (name.size() >= 16 && containsNoCase(name.substr(0, 16), "request_cookies:")) return true;
  // Strip a collection prefix ("ARGS:password" -> "password").
  std::size_t colon = name.rfind(':');
  std::string_view n = colon == std::string_view::npos ? name : name.substr(colon + 1);
  static constexpr std::string_view kExact[] = {"authorization", "proxy-authorization", "cookie",
                                                "set-cookie"};
  for (std::string_view e : kExact) {
    if (n.size() == e.size() && containsNoCase(n, e)) return true;
  }
  static constexpr std::string_view kParts[] = {"passw",  "pwd", "secret", "token", "api_key",
                                                "apikey", "cvv", "cvc",    "pin"};
  for (std::string_view p : kParts) {
    if (containsNoCase(n, p)) return true;
  }
  return false;
}

std::string maskedValue(std::string_view name, std::string_view value) {
  if (isSensitiveName(name)) return value.empty() ? std::string() : std::string("*****");
  return maskCardNumbers(value);
}

// logdata usually quotes the matched value (CRS: "Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}:
// %{MATCHED_VAR}"), so for a sensitive variable any part of it may be a secret: the whole field goes.
std::string maskedData(const RuleMatch& m) {
  if (isSensitiveName(m.matchedVarName) && !m.data.empty()) return "***** (matched " + m.matchedVarName + ")";
  return maskCardNumbers(std::string_view(m.data).substr(0, 512));
}

void appendErrorLogLine(std::string& out, const Transaction& tx, const RuleMatch& m) {
  const Rule& r = *m.rule;
  out += '[';
  appendUtcTimestamp(out);
  out += "] [client ";
  out += tx.info().clientAddress;
  out += "] ModSecurity: ";
  if (m.disruptive) {
    out += "Access denied with code ";
    out += std::to_string(tx.intervention().status);
    out += " (phase ";
    out += std::to_string(m.phase);
    out += "). ";
  } else {
    out += "Warning. ";
  }
  if (r.op) {
    out += "Matched \"Operator `";
    out += operatorTitle(r.opName);
    out += "' with parameter `";
    appendField(out, maskCardNumbers(r.opParam.substr(0, 256)));
    out += "' against variable `";
    appendField(out, m.matchedVarName);
    out += "' (Value: `";
    appendField(out, maskedValue(m.matchedVarName, std::string_view(m.matchedVar).substr(0, 256)));
    out += "' ) ";
  } else {
    out += "Unconditional match in SecAction. ";
  }
  auto field = [&](std::string_view key, std::string_view value) {
    out += '[';
    out += key;
    out += " \"";
    appendField(out, value);
    out += "\"] ";
  };
  field("file", r.file);
  field("line", std::to_string(r.line));
  field("id", std::to_string(r.id));
  if (!r.rev.empty()) field("rev", r.rev);
  field("msg", maskCardNumbers(m.message));
  field("data", maskedData(m));
  if (r.severity >= 0) field("severity", severityName(r.severity));
  if (!r.ver.empty()) field("ver", r.ver);
  if (!r.maturity.empty()) field("maturity", r.maturity);
  if (!r.accuracy.empty()) field("accuracy", r.accuracy);
  for (const std::string& t : r.tags) field("tag", t);
  field("hostname", tx.info().serverName);
  field("uri", maskCardNumbers(tx.requestUri()));
  field("unique_id", tx.info().uniqueId);
  out.back() = '\n';
}

void appendAuditRecord(std::string& out, const Transaction& tx, int status) {
  auto str = [&](std::string_view v) {
    out += '"';
    appendJsonEscaped(out, v);
    out += '"';
  };
  out += "{\"transaction\":{\"client_ip\":";
  str(tx.info().clientAddress);
  out += ",\"time_stamp\":\"";
  appendUtcTimestamp(out);
  out += "\",\"server_id\":\"bulwark\",\"client_port\":" + std::to_string(tx.info().clientPort);
  out += ",\"host_ip\":";
  str(tx.info().serverAddress);
  out += ",\"host_port\":" + std::to_string(tx.info().serverPort);
  out += ",\"unique_id\":";
  str(tx.info().uniqueId);
  auto headers = [&](const Collection& c) {
    out += "\"headers\":{";
    bool firstHeader = true;
    for (const KeyValue& kv : c.items()) {
      if (!firstHeader) out += ',';
      firstHeader = false;
      str(kv.key);
      out += ':';
      str(maskedValue(kv.key, kv.value));
    }
    out += '}';
  };
  // SecAuditLogParts, as libmodsecurity 3 lays them out in JSON: A (this transaction block) and the request
  // line and status always; B request headers, F response headers, H producer and messages. Bodies (C,
  // I, J, E) are never written: they carry card data and credentials that masking cannot fully recognise.
  out += ",\"request\":{\"method\":";
  str(tx.variable(VariableId::kRequestMethod));
  out += ",\"http_version\":";
  str(tx.variable(VariableId::kRequestProtocol));
  out += ",\"uri\":";
  str(maskCardNumbers(tx.requestUri()));
  if (tx.auditLogPart('B')) {
    out += ',';
    headers(tx.collection(VariableId::kRequestHeaders));
  }
  out += "},\"response\":{\"http_code\":" + std::to_string(status);
  if (tx.auditLogPart('F')) {
    out += ',';
    headers(tx.collection(VariableId::kResponseHeaders));
  }
  out += '}';
  if (!tx.auditLogPart('H')) {
    out += "}}\n";
    return;
  }
  out += ",\"producer\":{\"modsecurity\":\"Bulwark WAF " BULWARK_VERSION
         "\",\"connector\":\"bulwark\",\"secrules_engine\":";
  str(tx.mode() == EngineMode::kOn              ? "Enabled"
      : tx.mode() == EngineMode::kDetectionOnly ? "DetectionOnly"
                                                : "Disabled");
  out += "},\"messages\":[";
  bool first = true;
  for (const RuleMatch& m : tx.matches()) {
    if (!m.log) continue;
    const Rule& r = *m.rule;
    if (!first) out += ',';
    first = false;
    out += "{\"message\":";
    str(maskCardNumbers(m.message));
    out += ",\"details\":{\"match\":";
    std::string match = "Matched \"Operator `" + operatorTitle(r.opName) + "' against variable `" +
                        m.matchedVarName + "' (Value: `" +
                        maskedValue(m.matchedVarName, std::string_view(m.matchedVar).substr(0, 256)) + "' )";
    str(match);
    out += ",\"ruleId\":";
    str(std::to_string(r.id));
    out += ",\"file\":";
    str(r.file);
    out += ",\"lineNumber\":";
    str(std::to_string(r.line));
    out += ",\"data\":";
    str(maskedData(m));
    out += ",\"severity\":";
    str(r.severity >= 0 ? std::to_string(r.severity) : "");
    out += ",\"ver\":";
    str(r.ver);
    out += ",\"rev\":";
    str(r.rev);
    out += ",\"tags\":[";
    for (std::size_t i = 0; i < r.tags.size(); ++i) {
      if (i) out += ',';
      str(r.tags[i]);
    }
    out += "],\"maturity\":";
    str(r.maturity);
    out += ",\"accuracy\":";
    str(r.accuracy);
    out += "}}";
  }
  out += "]}}\n";
}

}  // namespace bulwark::waf
