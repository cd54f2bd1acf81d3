// Request body processors for the WAF: multipart/form-data, JSON and XML (urlencoded lives in the
// transaction). Each parses a complete, size-bounded body held in memory (the gateway caps it at
// SecRequestBodyLimit) and reports what ModSecurity v2 exposes as variables. None of them fails open: a
// body that cannot be parsed sets `error` (-> REQBODY_ERROR / REQBODY_PROCESSOR_ERROR) and whatever was
// parsed up to the error is still reported, so rules see it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bulwark::waf::body {

struct Limits {
  std::size_t maxArgs = 1000;      // SecArgumentsLimit: further arguments are dropped and flagged
  uint32_t maxJsonDepth = 512;     // SecRequestBodyJsonDepthLimit
  std::size_t maxParts = 1000;     // multipart parts
  std::size_t maxFiles = 100;      // multipart file parts (MULTIPART_FILE_LIMIT_EXCEEDED over it)
  std::size_t maxXmlNodes = 100000;
};

using Args = std::vector<std::pair<std::string, std::string>>;

struct MultipartFile {
  std::string name;      // form field name (FILES_NAMES value; FILES key)
  std::string filename;  // FILES value
  uint64_t size = 0;     // FILES_SIZES
  std::string contentType;
};

// The MULTIPART_* flags of ModSecurity v2, each 0/1, as CRS rule 922110 / 920xxx and the base config's
// rule 200003 (MULTIPART_STRICT_ERROR) read them.
struct MultipartFlags {
  bool strictError = false;  // any of the others
  bool unmatchedBoundary = false;
  bool boundaryQuoted = false;
  bool boundaryWhitespace = false;
  bool dataBefore = false;
  bool dataAfter = false;
  bool headerFolding = false;
  bool lfLine = false;
  bool crlfLfLines = false;
  bool missingSemicolon = false;
  bool invalidQuoting = false;
  bool invalidPart = false;
  bool invalidHeaderFolding = false;
  bool fileLimitExceeded = false;
};

struct MultipartResult {
  Args args;                                // non-file parts -> ARGS_POST
  std::vector<MultipartFile> files;
  Args partHeaders;                         // MULTIPART_PART_HEADERS: (part name, "Header: value")
  std::vector<std::string> filenames;       // MULTIPART_FILENAME values
  std::vector<std::string> names;           // MULTIPART_NAME values
  MultipartFlags flags;
  bool error = false;
  std::string errorMsg;
};

// `contentType` is the request's Content-Type header value (the boundary comes from it).
void parseMultipart(std::string_view contentType, std::string_view body, const Limits& limits,
                    MultipartResult& out);

struct JsonResult {
  Args args;  // named as ModSecurity v2.9 does: "a.b", array elements "a.a" (docs/waf-body-processors.md)
  bool error = false;
  std::string errorMsg;
};
void parseJson(std::string_view body, const Limits& limits, JsonResult& out);

struct XmlResult {
  // The values of `XML:/*`: ModSecurity evaluates the XPath `/*` and uses each node's string value.
  std::vector<std::string> values;
  // The values of `XML://@*` (every attribute's value, in document order), which CRS reads beside `XML:/*`.
  std::vector<std::string> attributeValues;
  bool error = false;
  std::string errorMsg;
};
// libxml2 with network access, external entities and DTD loading off; bounded node count.
void parseXml(std::string_view body, const Limits& limits, XmlResult& out);

}  // namespace bulwark::waf::body
