#include "waf/engine/variables.h"

#include <array>
#include <cctype>
#include <unordered_map>

namespace bulwark::waf {

namespace {
// The single list of variables. Order follows VariableId so that variableInfo() is an index.
constexpr std::array<VariableInfo, static_cast<std::size_t>(VariableId::kCount)> kVariables = {{
    {"ARGS", VariableId::kArgs, true},
    {"ARGS_GET", VariableId::kArgsGet, true},
    {"ARGS_POST", VariableId::kArgsPost, true},
    {"ARGS_NAMES", VariableId::kArgsNames, true},
    {"ARGS_GET_NAMES", VariableId::kArgsGetNames, true},
    {"ARGS_POST_NAMES", VariableId::kArgsPostNames, true},
    {"REQUEST_HEADERS", VariableId::kRequestHeaders, true},
    {"REQUEST_HEADERS_NAMES", VariableId::kRequestHeadersNames, true},
    {"REQUEST_COOKIES", VariableId::kRequestCookies, true},
    {"REQUEST_COOKIES_NAMES", VariableId::kRequestCookiesNames, true},
    {"RESPONSE_HEADERS", VariableId::kResponseHeaders, true},
    {"RESPONSE_HEADERS_NAMES", VariableId::kResponseHeadersNames, true},
    {"FILES", VariableId::kFiles, true},
    {"FILES_NAMES", VariableId::kFilesNames, true},
    {"FILES_SIZES", VariableId::kFilesSizes, true},
    {"FILES_TMPNAMES", VariableId::kFilesTmpNames, true},
    {"FILES_TMP_CONTENT", VariableId::kFilesTmpContent, true},
    {"MULTIPART_PART_HEADERS", VariableId::kMultipartPartHeaders, true},
    {"XML", VariableId::kXml, true},
    {"TX", VariableId::kTx, true},
    {"IP", VariableId::kIp, true},
    {"GLOBAL", VariableId::kGlobal, true},
    {"SESSION", VariableId::kSession, true},
    {"USER", VariableId::kUser, true},
    {"RESOURCE", VariableId::kResource, true},
    {"ENV", VariableId::kEnv, true},
    {"GEO", VariableId::kGeo, true},
    {"RULE", VariableId::kRule, true},
    {"MATCHED_VARS", VariableId::kMatchedVars, true},
    {"MATCHED_VARS_NAMES", VariableId::kMatchedVarsNames, true},
    {"ARGS_COMBINED_SIZE", VariableId::kArgsCombinedSize, false},
    {"FILES_COMBINED_SIZE", VariableId::kFilesCombinedSize, false},
    {"REQUEST_METHOD", VariableId::kRequestMethod, false},
    {"REQUEST_PROTOCOL", VariableId::kRequestProtocol, false},
    {"REQUEST_URI", VariableId::kRequestUri, false},
    {"REQUEST_URI_RAW", VariableId::kRequestUriRaw, false},
    {"REQUEST_FILENAME", VariableId::kRequestFilename, false},
    {"REQUEST_BASENAME", VariableId::kRequestBasename, false},
    {"REQUEST_LINE", VariableId::kRequestLine, false},
    {"QUERY_STRING", VariableId::kQueryString, false},
    {"REQUEST_BODY", VariableId::kRequestBody, false},
    {"REQUEST_BODY_LENGTH", VariableId::kRequestBodyLength, false},
    {"REQBODY_ERROR", VariableId::kReqbodyError, false},
    {"REQBODY_ERROR_MSG", VariableId::kReqbodyErrorMsg, false},
    {"REQBODY_PROCESSOR", VariableId::kReqbodyProcessor, false},
    {"REQBODY_PROCESSOR_ERROR", VariableId::kReqbodyProcessorError, false},
    {"REQBODY_PROCESSOR_ERROR_MSG", VariableId::kReqbodyProcessorErrorMsg, false},
    {"INBOUND_DATA_ERROR", VariableId::kInboundDataError, false},
    {"OUTBOUND_DATA_ERROR", VariableId::kOutboundDataError, false},
    {"URLENCODED_ERROR", VariableId::kUrlencodedError, false},
    {"MULTIPART_STRICT_ERROR", VariableId::kMultipartStrictError, false},
    {"MULTIPART_UNMATCHED_BOUNDARY", VariableId::kMultipartUnmatchedBoundary, false},
    {"MULTIPART_BOUNDARY_QUOTED", VariableId::kMultipartBoundaryQuoted, false},
    {"MULTIPART_BOUNDARY_WHITESPACE", VariableId::kMultipartBoundaryWhitespace, false},
    {"MULTIPART_DATA_BEFORE", VariableId::kMultipartDataBefore, false},
    {"MULTIPART_DATA_AFTER", VariableId::kMultipartDataAfter, false},
    {"MULTIPART_HEADER_FOLDING", VariableId::kMultipartHeaderFolding, false},
    {"MULTIPART_LF_LINE", VariableId::kMultipartLfLine, false},
    {"MULTIPART_MISSING_SEMICOLON", VariableId::kMultipartMissingSemicolon, false},
    {"MULTIPART_INVALID_QUOTING", VariableId::kMultipartInvalidQuoting, false},
    {"MULTIPART_INVALID_PART", VariableId::kMultipartInvalidPart, false},
    {"MULTIPART_INVALID_HEADER_FOLDING", VariableId::kMultipartInvalidHeaderFolding, false},
    {"MULTIPART_FILE_LIMIT_EXCEEDED", VariableId::kMultipartFileLimitExceeded, false},
    {"MULTIPART_CRLF_LF_LINES", VariableId::kMultipartCrlfLfLines, false},
    {"MULTIPART_FILENAME", VariableId::kMultipartFilename, false},
    {"MULTIPART_NAME", VariableId::kMultipartName, false},
    {"RESPONSE_BODY", VariableId::kResponseBody, false},
    {"RESPONSE_STATUS", VariableId::kResponseStatus, false},
    {"RESPONSE_PROTOCOL", VariableId::kResponseProtocol, false},
    {"RESPONSE_CONTENT_TYPE", VariableId::kResponseContentType, false},
    {"RESPONSE_CONTENT_LENGTH", VariableId::kResponseContentLength, false},
    {"STATUS_LINE", VariableId::kStatusLine, false},
    {"REMOTE_ADDR", VariableId::kRemoteAddr, false},
    {"REMOTE_PORT", VariableId::kRemotePort, false},
    {"REMOTE_HOST", VariableId::kRemoteHost, false},
    {"REMOTE_USER", VariableId::kRemoteUser, false},
    {"SERVER_ADDR", VariableId::kServerAddr, false},
    {"SERVER_PORT", VariableId::kServerPort, false},
    {"SERVER_NAME", VariableId::kServerName, false},
    {"UNIQUE_ID", VariableId::kUniqueId, false},
    {"MATCHED_VAR", VariableId::kMatchedVar, false},
    {"MATCHED_VAR_NAME", VariableId::kMatchedVarName, false},
    {"HIGHEST_SEVERITY", VariableId::kHighestSeverity, false},
    {"DURATION", VariableId::kDuration, false},
    {"TIME", VariableId::kTime, false},
    {"TIME_DAY", VariableId::kTimeDay, false},
    {"TIME_EPOCH", VariableId::kTimeEpoch, false},
    {"TIME_HOUR", VariableId::kTimeHour, false},
    {"TIME_MIN", VariableId::kTimeMin, false},
    {"TIME_MON", VariableId::kTimeMon, false},
    {"TIME_SEC", VariableId::kTimeSec, false},
    {"TIME_WDAY", VariableId::kTimeWday, false},
    {"TIME_YEAR", VariableId::kTimeYear, false},
    {"FULL_REQUEST", VariableId::kFullRequest, false},
    {"FULL_REQUEST_LENGTH", VariableId::kFullRequestLength, false},
    {"AUTH_TYPE", VariableId::kAuthType, false},
    {"PATH_INFO", VariableId::kPathInfo, false},
    {"USERID", VariableId::kUserid, false},
    {"SESSIONID", VariableId::kSessionid, false},
    {"WEBAPPID", VariableId::kWebappid, false},
    {"MODSEC_BUILD", VariableId::kModsecBuild, false},
    {"WEBSERVER_ERROR_LOG", VariableId::kWebserverErrorLog, false},
    {"USERAGENT_IP", VariableId::kUserAgentIp, false},
}};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

constexpr bool ordered() {
  for (std::size_t i = 0; i < kVariables.size(); ++i) {
    if (static_cast<std::size_t>(kVariables[i].id) != i) return false;
  }
  return true;
}
static_assert(ordered(), "kVariables must follow VariableId order");
}  // namespace

const VariableInfo* findVariable(std::string_view name) noexcept {
  // Macro references (%{TX.x}, %{MATCHED_VAR}) look their variable up at request time, by the upper-case
  // name the macro compiler keeps: that case is one hash lookup. Other spellings take the linear search.
  static const std::unordered_map<std::string_view, const VariableInfo*> kByName = [] {
    std::unordered_map<std::string_view, const VariableInfo*> m;
    for (const VariableInfo& v : kVariables) m.emplace(v.name, &v);
    return m;
  }();
  if (auto it = kByName.find(name); it != kByName.end()) return it->second;
  for (const VariableInfo& v : kVariables) {
    if (iequals(v.name, name)) return &v;
  }
  return nullptr;
}

const VariableInfo& variableInfo(VariableId id) noexcept { return kVariables[static_cast<std::size_t>(id)]; }

}  // namespace bulwark::waf
