#include "core/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <ctime>

namespace bulwark {

namespace {
std::atomic<int> gLevel{static_cast<int>(LogLevel::kInfo)};
constexpr std::string_view kLevelNames[] = {"debug", "info", "warn", "error"};
constexpr std::size_t kAccessLogFlushBytes = 64 * 1024;

void writeAll(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) return;  // a log that cannot be written must never stop the server
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Length of the valid UTF-8 sequence at s[i], or 0 if invalid.
std::size_t utf8SequenceLength(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  return len;
}
}  // namespace

void setLogLevel(LogLevel level) { gLevel.store(static_cast<int>(level), std::memory_order_relaxed); }

void logMessage(LogLevel level, std::string_view msg) {
  if (static_cast<int>(level) < gLevel.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(msg.size() + 48);
  appendUtcTimestamp(line);
  line += ' ';
  line += kLevelNames[static_cast<int>(level)];
  line += ": ";
  line += msg;
  line += '\n';
  writeAll(2, line.data(), line.size());
}

void appendJsonEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (std::size_t len = utf8SequenceLength(s, i); len > 0) {
      out.append(s.substr(i, len));
      i += len - 1;
    } else {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

void appendUtcTimestamp(std::string& out) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  ::gmtime_r(&ts.tv_sec, &t);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  n += static_cast<std::size_t>(
      std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ts.tv_nsec / 1000000)));
  out.append(buf, n);
}

void AccessLogWriter::lineDone() {
  if (buf_.size() >= kAccessLogFlushBytes) flush();
}

void AccessLogWriter::flush() {
  if (buf_.empty()) return;
  if (fd_ >= 0) writeAll(fd_, buf_.data(), buf_.size());
  buf_.clear();
}

int openAccessLog(const std::string& path) {
  if (path == "off") return -1;
  if (path == "stdout" || path.empty()) return 1;
  if (path == "stderr") return 2;
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  return fd < 0 ? -2 : fd;
}

}  // namespace bulwark
