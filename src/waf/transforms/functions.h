// The transformation functions behind the registry (private to src/waf/transforms/). Each has the
// TransformFn contract of transforms.h; docs/waf-transformations.md states the exact semantics of each.
#pragma once

#include <string>
#include <string_view>

namespace bulwark::waf::transforms {

// base64.cc
bool base64Decode(std::string_view in, std::string& out);
bool base64DecodeExt(std::string_view in, std::string& out);
bool base64Encode(std::string_view in, std::string& out);
// case.cc
bool lowercase(std::string_view in, std::string& out);
bool uppercase(std::string_view in, std::string& out);
// cmd_line.cc
bool cmdLine(std::string_view in, std::string& out);
// comments.cc
bool removeComments(std::string_view in, std::string& out);
bool removeCommentsChar(std::string_view in, std::string& out);
bool replaceComments(std::string_view in, std::string& out);
// css_decode.cc
bool cssDecode(std::string_view in, std::string& out);
// digest.cc
bool md5(std::string_view in, std::string& out);
bool sha1(std::string_view in, std::string& out);
// escape_seq_decode.cc
bool escapeSeqDecode(std::string_view in, std::string& out);
// hex.cc
bool hexDecode(std::string_view in, std::string& out);
bool hexEncode(std::string_view in, std::string& out);
bool sqlHexDecode(std::string_view in, std::string& out);
// html_entity_decode.cc
bool htmlEntityDecode(std::string_view in, std::string& out);
// js_decode.cc
bool jsDecode(std::string_view in, std::string& out);
// length.cc
bool length(std::string_view in, std::string& out);
// normalize_path.cc
bool normalizePath(std::string_view in, std::string& out);
bool normalizePathWin(std::string_view in, std::string& out);
// nulls.cc
bool removeNulls(std::string_view in, std::string& out);
bool replaceNulls(std::string_view in, std::string& out);
// parity.cc
bool parityEven7bit(std::string_view in, std::string& out);
bool parityOdd7bit(std::string_view in, std::string& out);
bool parityZero7bit(std::string_view in, std::string& out);
// trim.cc
bool trim(std::string_view in, std::string& out);
bool trimLeft(std::string_view in, std::string& out);
bool trimRight(std::string_view in, std::string& out);
// url_decode.cc
bool urlDecode(std::string_view in, std::string& out);
bool urlDecodeUni(std::string_view in, std::string& out);
// url_encode.cc
bool urlEncode(std::string_view in, std::string& out);
// utf8_to_unicode.cc
bool utf8toUnicode(std::string_view in, std::string& out);
// whitespace.cc
bool compressWhitespace(std::string_view in, std::string& out);
bool removeWhitespace(std::string_view in, std::string& out);

}  // namespace bulwark::waf::transforms
