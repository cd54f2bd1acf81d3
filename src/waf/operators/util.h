// Private helpers shared by the operator implementations (not part of the operator interface).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "waf/operators/operator.h"

namespace bulwark::waf::operators {

// TX:0..9 are the capture slots of ModSecurity v2.
inline constexpr int kCaptureSlots = 10;

// C atoi() as glibc implements it, which is what v2's numeric operators apply to both sides:
// leading isspace() skipped, optional sign, decimal digits up to the first other byte (so "  12abc" is 12
// and "abc" is 0), saturated to the range of `long` on overflow and then truncated to 32 bits.
int cAtoi(std::string_view text) noexcept;

// True for the bytes C isspace() accepts in the "C" locale (space, \t, \n, \v, \f, \r).
inline bool isCSpace(unsigned char c) noexcept { return c == ' ' || (c >= '\t' && c <= '\r'); }

inline bool isWordByte(unsigned char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

inline unsigned char asciiLower(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + ('a' - 'A')) : c;
}

std::string_view trimCSpace(std::string_view text) noexcept;

// v2's parse_pm_content(), which @pm, @pmFromFile and @strmatch apply to their phrases: after leading
// whitespace, a phrase wrapped in double quotes loses them; `|41 42|` writes the bytes 0x41 0x42; `\` may
// escape only `:` `;` `\` `"`. Returns false (with `error`) for an empty phrase or another escape.
bool parsePmContent(std::string_view text, std::string& out, std::string& error);

// `name` itself if absolute, else `name` relative to `baseDir` (the directory of the rule file).
std::string resolvePath(const std::string& baseDir, std::string_view name);

// Reads a whole file. On failure returns false with a message naming the path.
bool readWholeFile(const std::string& path, std::string& out, std::string& error);

// Removes TX:from..9, as v2 does after storing fewer than ten captures.
inline void unsetCapturesFrom(OperatorContext& ctx, int from) {
  for (int i = from; i < kCaptureSlots; ++i) ctx.unsetCapture(i);
}

}  // namespace bulwark::waf::operators
