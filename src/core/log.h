// Process log (operational messages to stderr) and helpers for JSON log lines.
//
// logInfo/logWarn/logError may be called from any thread; each message is written with one write(2) so
// lines from different threads never interleave. They are for rare events (start-up, reload, health
// changes, "Redis down" once), not per request: per-request lines go through AccessLog.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bulwark {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void setLogLevel(LogLevel level);
void logMessage(LogLevel level, std::string_view msg);
inline void logInfo(std::string_view msg) { logMessage(LogLevel::kInfo, msg); }
inline void logWarn(std::string_view msg) { logMessage(LogLevel::kWarn, msg); }
inline void logError(std::string_view msg) { logMessage(LogLevel::kError, msg); }

// Appends `s` to `out` as the inside of a JSON string (quotes not included), escaping control bytes,
// quotes and backslashes; bytes >= 0x80 that are not valid UTF-8 are written as \u00XX.
void appendJsonEscaped(std::string& out, std::string_view s);

// RFC 3339 UTC time with milliseconds, e.g. "2026-11-28T20:38:40.123Z".
void appendUtcTimestamp(std::string& out);

// Per-thread buffered line writer for access logs: lines are appended to a buffer and written with one
// write(2) per event-loop iteration (flush()), or when the buffer passes 64 KiB. fd < 0 disables it.
class AccessLogWriter {
 public:
  AccessLogWriter() = default;
  explicit AccessLogWriter(int fd) : fd_(fd) {}
  bool enabled() const noexcept { return fd_ >= 0; }
  std::string& buffer() noexcept { return buf_; }  // append one complete line ending in '\n'
  void lineDone();
  void flush();
  void setFd(int fd) { flush(); fd_ = fd; }

 private:
  int fd_ = -1;
  std::string buf_;
};

// Opens the access log target: "stdout" -> 1, "off" -> -1, else the file (O_APPEND|O_CREAT).
// Returns -2 on failure (errno set).
int openAccessLog(const std::string& path);

}  // namespace bulwark
