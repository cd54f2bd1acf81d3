#include "waf/operators/util.h"

#include <climits>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace bulwark::waf::operators {

int cAtoi(std::string_view text) noexcept {
  std::size_t i = 0;
  while (i < text.size() && isCSpace(static_cast<unsigned char>(text[i]))) ++i;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    negative = text[i] == '-';
    ++i;
  }
  // strtol() saturates at LONG_MIN/LONG_MAX (64-bit here); atoi() then keeps the low 32 bits.
  std::uint64_t magnitude = 0;
  bool saturated = false;
  const std::uint64_t limit = negative ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (saturated) continue;
    std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (magnitude > (limit - digit) / 10) {
      magnitude = limit;
      saturated = true;
    } else {
      magnitude = magnitude * 10 + digit;
    }
  }
  std::uint64_t bits = negative ? (~magnitude + 1) : magnitude;
  return static_cast<int>(static_cast<std::uint32_t>(bits));
}

std::string_view trimCSpace(std::string_view text) noexcept {
  while (!text.empty() && isCSpace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && isCSpace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

namespace {

bool isHexDigit(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

}  // namespace

bool parsePmContent(std::string_view text, std::string& out, std::string& error) {
  std::size_t start = 0;
  while (start < text.size() && isCSpace(static_cast<unsigned char>(text[start]))) ++start;
  std::string_view body = text.substr(start);
  // v2 compares the first non-space byte and the very last byte (so a trailing newline defeats it).
  if (body.size() >= 2 && body.front() == '"' && body.back() == '"') body = body.substr(1, body.size() - 2);
  if (body.empty()) {
    error = "content length is 0";
    return false;
  }
  // v2 rewrites the phrase in place and, when nothing was converted, keeps the original length: "a||b"
  // becomes "ab|b". Simulating the in-place copy keeps even that quirk identical.
  std::string buffer(body);
  std::size_t written = 0;
  bool inHex = false;
  bool escaped = false;
  char hexPair[2] = {0, 0};
  int hexDigits = 0;
  bool converted = false;
  for (char c : body) {
    if (c == '|') {
      inHex = !inHex;
    } else if (!escaped && c == '\\') {
      escaped = true;
    } else if (inHex) {
      if (isHexDigit(c)) {
        hexPair[hexDigits++] = c;
        if (hexDigits == 2) {
          buffer[written++] = static_cast<char>(hexValue(hexPair[0]) * 16 + hexValue(hexPair[1]));
          hexDigits = 0;
          converted = true;
        }
      }
      // Anything else between pipes (spaces, stray bytes) is skipped, as in v2.
    } else if (escaped) {
      if (c != ':' && c != ';' && c != '\\' && c != '"') {
        error = "unsupported escape sequence";
        return false;
      }
      buffer[written++] = c;
      escaped = false;
      converted = true;
    } else {
      buffer[written++] = c;
    }
  }
  if (converted) buffer.resize(written);
  out = std::move(buffer);
  return true;
}

std::string resolvePath(const std::string& baseDir, std::string_view name) {
  if (!name.empty() && name.front() == '/') return std::string(name);
  if (baseDir.empty()) return std::string(name);
  std::string path = baseDir;
  if (path.back() != '/') path.push_back('/');
  path.append(name);
  return path;
}

bool readWholeFile(const std::string& path, std::string& out, std::string& error) {
  // A directory opens as a stream on Linux and reads as empty: refuse it instead of loading nothing.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    error = "\"" + path + "\" is not a readable file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "could not open \"" + path + "\"";
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    error = "could not read \"" + path + "\"";
    return false;
  }
  out = std::move(buffer).str();
  return true;
}

}  // namespace bulwark::waf::operators
