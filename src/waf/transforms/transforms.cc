#include "waf/transforms/transforms.h"

#include <algorithm>
#include <array>
#include <cstddef>

#include "waf/transforms/functions.h"

namespace bulwark::waf {
namespace {

namespace tf = transforms;

constexpr char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

// Orders names as ModSecurity looks them up: ASCII case-insensitively.
constexpr int compareIgnoringCase(std::string_view a, std::string_view b) {
  const std::size_t common = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < common; ++i) {
    const char x = lowerAscii(a[i]);
    const char y = lowerAscii(b[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

// The one list of transformations, kept sorted by case-folded name so lookup is a binary search; the
// static_assert below rejects an unsorted list or a duplicate at compile time. The British spellings are
// rows of their own (v2 registers both spellings too). "none" is deliberately absent: it resets the chain
// and is the rule parser's business.
constexpr TransformInfo kTransforms[] = {
    {"base64Decode", tf::base64Decode},
    {"base64DecodeExt", tf::base64DecodeExt},
    {"base64Encode", tf::base64Encode},
    {"cmdLine", tf::cmdLine},
    {"compressWhitespace", tf::compressWhitespace},
    {"cssDecode", tf::cssDecode},
    {"escapeSeqDecode", tf::escapeSeqDecode},
    {"hexDecode", tf::hexDecode},
    {"hexEncode", tf::hexEncode},
    {"htmlEntityDecode", tf::htmlEntityDecode},
    {"jsDecode", tf::jsDecode},
    {"length", tf::length},
    {"lowercase", tf::lowercase},
    {"md5", tf::md5},
    {"normalisePath", tf::normalizePath},
    {"normalisePathWin", tf::normalizePathWin},
    {"normalizePath", tf::normalizePath},
    {"normalizePathWin", tf::normalizePathWin},
    {"parityEven7bit", tf::parityEven7bit},
    {"parityOdd7bit", tf::parityOdd7bit},
    {"parityZero7bit", tf::parityZero7bit},
    {"removeComments", tf::removeComments},
    {"removeCommentsChar", tf::removeCommentsChar},
    {"removeNulls", tf::removeNulls},
    {"removeWhitespace", tf::removeWhitespace},
    {"replaceComments", tf::replaceComments},
    {"replaceNulls", tf::replaceNulls},
    {"sha1", tf::sha1},
    {"sqlHexDecode", tf::sqlHexDecode},
    {"trim", tf::trim},
    {"trimLeft", tf::trimLeft},
    {"trimRight", tf::trimRight},
    {"uppercase", tf::uppercase},
    {"urlDecode", tf::urlDecode},
    {"urlDecodeUni", tf::urlDecodeUni},
    {"urlEncode", tf::urlEncode},
    {"utf8toUnicode", tf::utf8toUnicode},
};
constexpr std::size_t kTransformCount = std::size(kTransforms);

constexpr bool isStrictlySortedIgnoringCase() {
  for (std::size_t i = 1; i < kTransformCount; ++i) {
    if (compareIgnoringCase(kTransforms[i - 1].name, kTransforms[i].name) >= 0) return false;
  }
  return true;
}
static_assert(isStrictlySortedIgnoringCase(),
              "kTransforms must be sorted case-insensitively, without duplicates");

// transformNames() hands out a mutable pointer (the header's signature); the array is filled once from
// kTransforms and callers must treat it as read-only.
std::array<std::string_view, kTransformCount> makeNames() {
  std::array<std::string_view, kTransformCount> names{};
  for (std::size_t i = 0; i < kTransformCount; ++i) names[i] = kTransforms[i].name;
  return names;
}

}  // namespace

const TransformInfo* findTransform(std::string_view name) noexcept {
  const TransformInfo* end = kTransforms + kTransformCount;
  const TransformInfo* it =
      std::lower_bound(kTransforms, end, name, [](const TransformInfo& info, std::string_view key) {
        return compareIgnoringCase(info.name, key) < 0;
      });
  if (it == end || compareIgnoringCase(it->name, name) != 0) return nullptr;
  return it;
}

std::string_view* transformNames(std::size_t& count) noexcept {
  static std::array<std::string_view, kTransformCount> names = makeNames();
  count = names.size();
  return names.data();
}

}  // namespace bulwark::waf
