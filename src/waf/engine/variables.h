// SecLang variables (targets of rules): one registry, filled from a single explicit list.
#pragma once

#include <cstdint>
#include <string_view>

namespace bulwark::waf {

enum class VariableId : uint8_t {
  // Collections (key -> value).
  kArgs,
  kArgsGet,
  kArgsPost,
  kArgsNames,
  kArgsGetNames,
  kArgsPostNames,
  kRequestHeaders,
  kRequestHeadersNames,
  kRequestCookies,
  kRequestCookiesNames,
  kResponseHeaders,
  kResponseHeadersNames,
  kFiles,
  kFilesNames,
  kFilesSizes,
  kFilesTmpNames,
  kFilesTmpContent,
  kMultipartPartHeaders,
  kXml,
  kTx,
  kIp,
  kGlobal,
  kSession,
  kUser,
  kResource,
  kEnv,
  kGeo,
  kRule,
  kMatchedVars,
  kMatchedVarsNames,
  // Scalars.
  kArgsCombinedSize,
  kFilesCombinedSize,
  kRequestMethod,
  kRequestProtocol,
  kRequestUri,
  kRequestUriRaw,
  kRequestFilename,
  kRequestBasename,
  kRequestLine,
  kQueryString,
  kRequestBody,
  kRequestBodyLength,
  kReqbodyError,
  kReqbodyErrorMsg,
  kReqbodyProcessor,
  kReqbodyProcessorError,
  kReqbodyProcessorErrorMsg,
  kInboundDataError,
  kOutboundDataError,
  kUrlencodedError,
  kMultipartStrictError,
  kMultipartUnmatchedBoundary,
  kMultipartBoundaryQuoted,
  kMultipartBoundaryWhitespace,
  kMultipartDataBefore,
  kMultipartDataAfter,
  kMultipartHeaderFolding,
  kMultipartLfLine,
  kMultipartMissingSemicolon,
  kMultipartInvalidQuoting,
  kMultipartInvalidPart,
  kMultipartInvalidHeaderFolding,
  kMultipartFileLimitExceeded,
  kMultipartCrlfLfLines,
  kMultipartFilename,
  kMultipartName,
  kResponseBody,
  kResponseStatus,
  kResponseProtocol,
  kResponseContentType,
  kResponseContentLength,
  kStatusLine,
  kRemoteAddr,
  kRemotePort,
  kRemoteHost,
  kRemoteUser,
  kServerAddr,
  kServerPort,
  kServerName,
  kUniqueId,
  kMatchedVar,
  kMatchedVarName,
  kHighestSeverity,
  kDuration,
  kTime,
  kTimeDay,
  kTimeEpoch,
  kTimeHour,
  kTimeMin,
  kTimeMon,
  kTimeSec,
  kTimeWday,
  kTimeYear,
  kFullRequest,
  kFullRequestLength,
  kAuthType,
  kPathInfo,
  kUserid,
  kSessionid,
  kWebappid,
  kModsecBuild,
  kWebserverErrorLog,
  kUserAgentIp,
  kCount
};

struct VariableInfo {
  std::string_view name;  // upper-case SecLang name
  VariableId id;
  bool collection;  // accepts a `:selector`
};

// Case-insensitive lookup; nullptr if unknown.
const VariableInfo* findVariable(std::string_view name) noexcept;
const VariableInfo& variableInfo(VariableId id) noexcept;

}  // namespace bulwark::waf
