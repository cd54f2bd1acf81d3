#include "core/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <span>
#include <sstream>
#include <string_view>

namespace bulwark {

// ---------------------------------------------------------------------------------------------------------
// Scalar notations (declared in config.h) and the character classes they use. ASCII only, independent of
// the process locale.
// ---------------------------------------------------------------------------------------------------------
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

bool isAlnum(char c) { return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

char toLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowerCase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), toLower);
  return out;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return toLower(x) == toLower(y); });
}

// Digits only (no sign, no spaces, no hex), as the notations below promise; false on overflow.
bool parseUnsigned(std::string_view text, uint64_t& out) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), isDigit)) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Splits "123unit" into its leading digits and the rest.
std::pair<std::string_view, std::string_view> splitNumber(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && isDigit(text[digits])) ++digits;
  return {text.substr(0, digits), text.substr(digits)};
}

bool isIpv4(std::string_view host) {
  in_addr addr;
  return inet_pton(AF_INET, std::string(host).c_str(), &addr) == 1;
}

bool isIpv6(std::string_view host) {
  in6_addr addr;
  return inet_pton(AF_INET6, std::string(host).c_str(), &addr) == 1;
}

// RFC 1123 host names, plus '_' because container service names use it. An all-numeric last label is
// refused so that a mistyped IPv4 address ("10.0.0.256") is not taken for a name to resolve.
bool isHostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::string_view lastLabel;
  std::size_t start = 0;
  while (start <= host.size()) {
    std::size_t dot = host.find('.', start);
    if (dot == std::string_view::npos) dot = host.size();
    std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!isAlnum(c) && c != '-' && c != '_') return false;
    }
    lastLabel = label;
    start = dot + 1;
  }
  return !std::all_of(lastLabel.begin(), lastLabel.end(), isDigit);
}

// Host patterns used for routing and SNI: "api.example.com" or "*.example.com".
bool isHostPattern(std::string_view pattern) {
  if (pattern.starts_with("*.")) pattern.remove_prefix(2);
  return isHostname(pattern) || isIpv4(pattern);
}

// RFC 9110 token characters: the only bytes allowed in a header name.
bool isTokenChar(char c) {
  return isAlnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isHeaderName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), isTokenChar);
}

// Header values may hold any visible byte, space and tab; CR, LF and NUL would let a value split the head.
bool isHeaderValue(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

// Text placed into a request line or compared with one: visible ASCII only, no spaces.
bool isVisibleAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

bool parseDuration(std::string_view text, Millis& out) {
  struct Unit {
    std::string_view suffix;
    int64_t millis;
  };
  // Lower case only: "10M" reads like a size, and a duration that silently means minutes would surprise.
  static constexpr Unit kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}};
  auto [digits, suffix] = splitNumber(text);
  uint64_t value = 0;
  if (!parseUnsigned(digits, value)) return false;
  if (suffix.empty()) {
    // A bare number has no unit; only zero is unambiguous.
    if (value != 0) return false;
    out = Millis(0);
    return true;
  }
  for (const Unit& unit : kUnits) {
    if (suffix != unit.suffix) continue;
    if (value > static_cast<uint64_t>(std::numeric_limits<Millis::rep>::max() / unit.millis)) return false;
    out = Millis(static_cast<Millis::rep>(value) * unit.millis);
    return true;
  }
  return false;
}

bool parseSize(std::string_view text, uint64_t& out) {
  struct Unit {
    std::string_view suffix;
    unsigned shift;
  };
  // All multiples are 1024-based: limits are about buffers, and "KB" meaning 1000 would be a trap.
  static constexpr Unit kUnits[] = {{"", 0},    {"k", 10},   {"kb", 10}, {"kib", 10}, {"m", 20},
                                    {"mb", 20}, {"mib", 20}, {"g", 30},  {"gb", 30},  {"gib", 30}};
  auto [digits, suffix] = splitNumber(text);
  uint64_t value = 0;
  if (!parseUnsigned(digits, value)) return false;
  for (const Unit& unit : kUnits) {
    if (!equalsIgnoreCase(suffix, unit.suffix)) continue;
    if (value > (std::numeric_limits<uint64_t>::max() >> unit.shift)) return false;
    out = value << unit.shift;
    return true;
  }
  return false;
}

bool parseRate(std::string_view text, double& perSecond) {
  std::size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  std::string_view count = text.substr(0, slash);
  std::string_view unit = text.substr(slash + 1);
  // Digits with at most one inner '.': no sign, exponent or spaces (from_chars alone would take "1e3").
  if (count.front() == '.' || count.back() == '.' || std::count(count.begin(), count.end(), '.') > 1 ||
      !std::all_of(count.begin(), count.end(), [](char c) { return isDigit(c) || c == '.'; })) {
    return false;
  }
  double value = 0;
  auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), value);
  if (ec != std::errc() || end != count.data() + count.size() || !(value > 0) || !std::isfinite(value)) {
    return false;
  }
  static constexpr std::pair<std::string_view, double> kUnits[] = {{"s", 1},    {"sec", 1},    {"second", 1},
                                                                   {"m", 60},   {"min", 60},   {"minute", 60},
                                                                   {"h", 3600}, {"hour", 3600}};
  for (const auto& [name, seconds] : kUnits) {
    if (unit == name) {
      perSecond = value / seconds;
      return true;
    }
  }
  return false;
}

bool parseSocketAddress(std::string_view text, SocketAddress& out) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!isIpv6(host)) return false;
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // More than one colon is an IPv6 address without brackets: the port would be ambiguous.
    if (host.find(':') != std::string_view::npos) return false;
    if (!isIpv4(host) && !isHostname(host)) return false;
  }
  uint64_t portNumber = 0;
  if (port.size() > 5 || !parseUnsigned(port, portNumber) || portNumber > 65535) return false;
  out.text = std::string(text);
  out.host = std::string(host);
  out.port = static_cast<uint16_t>(portNumber);
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// The loader: walks the YAML tree with one table of fields per mapping, records every error with its
// position and keeps going, then resolves cross-references (routes -> pools) once everything is read.
// ---------------------------------------------------------------------------------------------------------
namespace {

// A value in the document, with what a message about it needs.
struct Slot {
  YAML::Node node;
  YAML::Mark mark;   // the value's position, or its key's when the value is empty (yaml-cpp places an
                     // empty value at the next token, often on another line)
  std::string path;  // "routes[0].match.prefix"; empty for the document root
};

// Route timeouts are overrides of the pool's, so which fields were written matters.
struct TimeoutOverrides {
  std::optional<Millis> connect;
  std::optional<Millis> firstByte;
  std::optional<Millis> idle;

  void applyTo(Timeouts& timeouts) const {
    if (connect) timeouts.connect = *connect;
    if (firstByte) timeouts.firstByte = *firstByte;
    if (idle) timeouts.idle = *idle;
  }
};

// A route as read, before its pool reference is resolved.
struct RouteDraft {
  Route route;
  std::optional<TimeoutOverrides> timeouts;
  YAML::Mark mark;
  YAML::Mark poolMark;
};

// The whole document as read; finished by Loader::resolve().
struct ConfigDraft {
  Config config;
  std::vector<RouteDraft> routes;
  YAML::Mark rootMark;
  std::optional<YAML::Mark> listenersMark;
  std::optional<YAML::Mark> adminMark;
  std::map<std::string, int> declaredPools;  // every pool name written (even with errors) -> its line
  std::vector<std::pair<std::string, YAML::Mark>> shieldRouteRefs;         // route names used by rate limits
  std::vector<std::pair<std::string, YAML::Mark>> proxyProtocolListeners;  // address -> `proxy_protocol`
};

class Loader;

// One key of a mapping: its name and the function that reads its value into T.
template <typename T>
struct Field {
  std::string_view key;
  void (*parse)(Loader& loader, const Slot& value, T& out);
  bool required = false;
};

// A value echoed in a message: bounded, and with control bytes escaped so a message stays one line.
std::string quoteValue(std::string_view text) {
  constexpr std::size_t kMaxShown = 64;
  std::string out = "'";
  for (char c : text.substr(0, kMaxShown)) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return out + "'";
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return quoteValue(node.Scalar());
    default:
      return "nothing";
  }
}

std::string where(const Slot& slot) { return slot.path.empty() ? "the top level" : slot.path; }

template <typename T>
std::string keyList(std::span<const Field<T>> fields) {
  std::string out;
  for (const Field<T>& field : fields) {
    if (!out.empty()) out += ", ";
    out += field.key;
  }
  return out;
}

class Loader {
 public:
  Loader(std::string file, std::filesystem::path baseDir)
      : file_(std::move(file)), baseDir_(std::move(baseDir)) {}

  ConfigResult load(const std::string& text);

  void error(const YAML::Mark& mark, std::string message) {
    // Null marks (line -1) only come from synthesized nodes; point them at the start of the file.
    errors_.push_back({std::max(mark.line, 0) + 1, std::max(mark.column, 0) + 1, std::move(message)});
  }

  // Reads a mapping with `fields`; unknown, duplicate and missing required keys are errors. False if the
  // value is not a mapping at all (already reported).
  template <typename T, std::size_t N>
  bool parseFields(const Slot& slot, const Field<T> (&fields)[N], T& out) {
    std::span<const Field<T>> table(fields);
    if (!expectMap(slot)) return false;
    std::vector<std::string> seen;
    for (const auto& entry : slot.node) {
      const YAML::Node& key = entry.first;
      if (!key.IsScalar()) {
        error(key.Mark(), "keys in " + where(slot) + " must be plain names, not " + describe(key));
        continue;
      }
      const std::string& name = key.Scalar();
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
        error(key.Mark(), "duplicate key " + quoteValue(name) + " in " + where(slot));
        continue;
      }
      seen.push_back(name);
      auto field = std::find_if(table.begin(), table.end(), [&](const Field<T>& f) { return f.key == name; });
      if (field == table.end()) {
        std::string valid = " (valid keys: " + keyList(table) + ")";
        if (slot.path.empty()) {
          error(key.Mark(), "unknown top-level key " + quoteValue(name) + valid);
        } else {
          error(key.Mark(), "unknown key " + quoteValue(name) + " in " + slot.path + valid);
        }
        continue;
      }
      field->parse(*this, child(slot, key, entry.second), out);
    }
    for (const Field<T>& field : table) {
      if (field.required && std::find(seen.begin(), seen.end(), field.key) == seen.end()) {
        error(slot.mark, "missing required key '" + std::string(field.key) + "' in " + where(slot));
      }
    }
    return true;
  }

  // Calls `each(elementSlot, index)` for every element of a list. False if the value is not a list.
  template <typename Fn>
  bool forEach(const Slot& slot, Fn&& each) {
    if (!expectSequence(slot)) return false;
    std::size_t index = 0;
    for (const YAML::Node& element : slot.node) {
      Slot item{element, element.IsNull() ? slot.mark : element.Mark(),
                slot.path + "[" + std::to_string(index) + "]"};
      each(item, index);
      ++index;
    }
    return true;
  }

  static Slot child(const Slot& parent, const YAML::Node& key, const YAML::Node& value) {
    std::string path = parent.path.empty() ? key.Scalar() : parent.path + "." + key.Scalar();
    return Slot{value, value.IsNull() ? key.Mark() : value.Mark(), std::move(path)};
  }

  bool expectMap(const Slot& slot) {
    if (slot.node.IsMap()) return true;
    error(slot.mark, "expected a mapping for " + where(slot) + ", got " + describe(slot.node));
    return false;
  }

  bool expectSequence(const Slot& slot) {
    if (slot.node.IsSequence()) return true;
    error(slot.mark, "expected a list for " + slot.path + ", got " + describe(slot.node));
    return false;
  }

  // `expected` names what the value should be, for the message when it is a list or a mapping.
  bool readScalar(const Slot& slot, std::string& out, std::string_view expected = "a string") {
    if (!slot.node.IsScalar()) {
      error(slot.mark,
            "expected " + std::string(expected) + " for " + slot.path + ", got " + describe(slot.node));
      return false;
    }
    out = slot.node.Scalar();
    return true;
  }

  bool readNonEmpty(const Slot& slot, std::string& out) {
    std::string text;
    if (!readScalar(slot, text)) return false;
    if (text.empty()) {
      error(slot.mark, slot.path + " must not be empty");
      return false;
    }
    out = std::move(text);
    return true;
  }

  // An identifier shown in logs and metrics (route and pool names).
  bool readName(const Slot& slot, std::string& out) {
    std::string text;
    if (!readNonEmpty(slot, text)) return false;
    bool ok = std::all_of(text.begin(), text.end(),
                          [](char c) { return isAlnum(c) || c == '_' || c == '-' || c == '.'; });
    if (!ok) {
      error(slot.mark,
            slot.path + ": invalid name " + quoteValue(text) + " (use letters, digits, '_', '-' and '.')");
      return false;
    }
    out = std::move(text);
    return true;
  }

  template <typename Int>
  bool readInteger(const Slot& slot, uint64_t min, uint64_t max, Int& out) {
    std::string text;
    if (!readScalar(slot, text, "an integer")) return false;
    uint64_t value = 0;
    if (!parseUnsigned(text, value) || value < min || value > max) {
      error(slot.mark, slot.path + " must be an integer from " + std::to_string(min) + " to " +
                           std::to_string(max) + ", got " + quoteValue(text));
      return false;
    }
    out = static_cast<Int>(value);
    return true;
  }

  bool readBool(const Slot& slot, bool& out) {
    static constexpr std::string_view kTrue[] = {"true", "True", "TRUE"};
    static constexpr std::string_view kFalse[] = {"false", "False", "FALSE"};
    std::string text;
    if (!readScalar(slot, text, "true or false")) return false;
    if (std::find(std::begin(kTrue), std::end(kTrue), text) != std::end(kTrue)) {
      out = true;
    } else if (std::find(std::begin(kFalse), std::end(kFalse), text) != std::end(kFalse)) {
      out = false;
    } else {
      error(slot.mark, slot.path + " must be true or false, got " + quoteValue(text));
      return false;
    }
    return true;
  }

  // Every duration in the file is a timeout or an interval, so zero is never meaningful.
  template <typename Out>
  bool readDuration(const Slot& slot, Out& out) {
    std::string text;
    if (!readScalar(slot, text, "a duration")) return false;
    Millis value{0};
    if (!parseDuration(text, value)) {
      error(slot.mark, slot.path + ": invalid duration " + quoteValue(text) +
                           " (an integer with ms, s, m or h, e.g. 10s)");
      return false;
    }
    if (value.count() <= 0) {
      error(slot.mark, slot.path + " must be greater than 0");
      return false;
    }
    out = value;
    return true;
  }

  template <typename Out>
  bool readSize(const Slot& slot, bool allowZero, Out& out) {
    std::string text;
    if (!readScalar(slot, text, "a size")) return false;
    uint64_t value = 0;
    if (!parseSize(text, value)) {
      error(slot.mark, slot.path + ": invalid size " + quoteValue(text) +
                           " (bytes, or an integer with k, m or g, e.g. 64k)");
      return false;
    }
    if (value == 0 && !allowZero) {
      error(slot.mark, slot.path + " must be greater than 0");
      return false;
    }
    out = value;
    return true;
  }

  // `ipOnly` for sockets we listen on: binding must not depend on DNS at start-up.
  bool readAddress(const Slot& slot, bool ipOnly, SocketAddress& out) {
    std::string text;
    if (!readScalar(slot, text, "an address")) return false;
    SocketAddress address;
    if (!parseSocketAddress(text, address)) {
      error(slot.mark, slot.path + ": invalid address " + quoteValue(text) + " (expected " +
                           (ipOnly ? "IPv4:PORT or [IPv6]:PORT" : "HOST:PORT, IPv4:PORT or [IPv6]:PORT") +
                           ")");
      return false;
    }
    if (ipOnly && !isIpv4(address.host) && !isIpv6(address.host)) {
      error(slot.mark, slot.path + ": " + quoteValue(text) + " must be an IP address, not a host name");
      return false;
    }
    if (address.port == 0) {
      error(slot.mark, slot.path + ": port must be from 1 to 65535 in " + quoteValue(text));
      return false;
    }
    out = std::move(address);
    return true;
  }

  // A file the server will open later (certificates, keys, CA bundles): checked now so that a typo fails
  // the load with a position instead of failing a handshake. Relative paths are taken from the
  // configuration file's directory and stored resolved.
  bool readFile(const Slot& slot, std::string& out) {
    std::string text;
    if (!readNonEmpty(slot, text)) return false;
    std::string path = resolvePath(text);
    // O_NONBLOCK: opening a FIFO by mistake must not hang the loader.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      error(slot.mark, slot.path + ": cannot read '" + path + "': " + std::strerror(errno));
      return false;
    }
    struct stat info {};
    bool regular = ::fstat(fd, &info) == 0 && S_ISREG(info.st_mode);
    ::close(fd);
    if (!regular) {
      error(slot.mark, slot.path + ": '" + path + "' is not a regular file");
      return false;
    }
    out = std::move(path);
    return true;
  }

  std::string resolvePath(const std::string& path) const {
    if (baseDir_.empty() || std::filesystem::path(path).is_absolute()) return path;
    return (baseDir_ / path).string();
  }

  // A single host pattern or a list of them; stored lower-cased because host names compare that way.
  bool readHostPatterns(const Slot& slot, std::vector<std::string>& out) {
    auto readOne = [&](const Slot& item, std::size_t) {
      std::string text;
      if (!readNonEmpty(item, text)) return;
      if (!isHostPattern(text)) {
        error(item.mark, item.path + ": invalid host " + quoteValue(text) +
                             " (a name like api.example.com or *.example.com)");
        return;
      }
      out.push_back(lowerCase(text));
    };
    if (slot.node.IsScalar()) {
      readOne(slot, 0);
      return true;
    }
    return forEach(slot, readOne);
  }

  bool readHeaderName(const Slot& slot, std::string& out);
  bool readEditableHeaderName(const Slot& slot, std::string& out);

 private:
  struct Error {
    int line;
    int column;
    std::string message;
  };

  bool checkSingleDocument(const std::string& text);
  void resolve(ConfigDraft& draft);

  std::string file_;
  std::filesystem::path baseDir_;
  std::vector<Error> errors_;
};

// Headers that decide where a message ends or what the connection does. Letting configuration add or remove
// them would let the gateway and the origin disagree about framing (request smuggling).
constexpr std::string_view kProtectedHeaders[] = {
    "content-length", "transfer-encoding", "connection",      "keep-alive", "te",
    "trailer",        "upgrade",           "proxy-connection"};

bool Loader::readHeaderName(const Slot& slot, std::string& out) {
  std::string text;
  if (!readNonEmpty(slot, text)) return false;
  if (!isHeaderName(text)) {
    error(slot.mark, slot.path + ": invalid header name " + quoteValue(text));
    return false;
  }
  out = std::move(text);
  return true;
}

bool Loader::readEditableHeaderName(const Slot& slot, std::string& out) {
  std::string name;
  if (!readHeaderName(slot, name)) return false;
  if (std::find(std::begin(kProtectedHeaders), std::end(kProtectedHeaders), lowerCase(name)) !=
      std::end(kProtectedHeaders)) {
    error(slot.mark,
          slot.path + ": header " + quoteValue(name) + " is managed by the proxy and cannot be edited");
    return false;
  }
  out = std::move(name);
  return true;
}

// Position of a key's value inside a mapping, for messages about that key after the mapping was read.
YAML::Mark markOf(const Slot& slot, std::string_view key) {
  if (slot.node.IsMap()) {
    for (const auto& entry : slot.node) {
      if (entry.first.IsScalar() && entry.first.Scalar() == key) {
        return entry.second.IsNull() ? entry.first.Mark() : entry.second.Mark();
      }
    }
  }
  return slot.mark;
}

// --- timeouts --------------------------------------------------------------------------------------------

constexpr Field<TimeoutOverrides> kTimeoutFields[] = {
    {"connect", [](Loader& l, const Slot& s, TimeoutOverrides& t) { l.readDuration(s, t.connect); }},
    {"first_byte", [](Loader& l, const Slot& s, TimeoutOverrides& t) { l.readDuration(s, t.firstByte); }},
    {"idle", [](Loader& l, const Slot& s, TimeoutOverrides& t) { l.readDuration(s, t.idle); }},
};

// --- listeners -------------------------------------------------------------------------------------------

constexpr Field<TlsCertificate> kCertificateFields[] = {
    {"cert", [](Loader& l, const Slot& s, TlsCertificate& c) { l.readFile(s, c.certFile); }, true},
    {"key", [](Loader& l, const Slot& s, TlsCertificate& c) { l.readFile(s, c.keyFile); }, true},
    {"server_names",
     [](Loader& l, const Slot& s, TlsCertificate& c) { l.readHostPatterns(s, c.serverNames); }},
};

void parseCertificates(Loader& loader, const Slot& slot, ListenerTls& tls) {
  bool isList = loader.forEach(slot, [&](const Slot& item, std::size_t) {
    TlsCertificate certificate;
    if (loader.parseFields(item, kCertificateFields, certificate)) tls.certificates.push_back(certificate);
  });
  if (isList && slot.node.size() == 0) {
    loader.error(slot.mark, slot.path + ": at least one certificate is required");
  }
}

void parseMinVersion(Loader& loader, const Slot& slot, ListenerTls& tls) {
  static constexpr std::string_view kVersions[] = {"1.2", "1.3"};
  std::string text;
  if (!loader.readScalar(slot, text)) return;
  if (std::find(std::begin(kVersions), std::end(kVersions), text) == std::end(kVersions)) {
    loader.error(slot.mark, slot.path + " must be \"1.2\" or \"1.3\", got " + quoteValue(text));
    return;
  }
  tls.minVersion = text;
}

// Protocols the gateway can speak after the handshake. Offering one it cannot serve would break every client
// that picks it, so anything else is refused; HTTP/2 joins this list when it is implemented.
constexpr std::string_view kAlpnProtocols[] = {"http/1.1"};

void parseAlpn(Loader& loader, const Slot& slot, ListenerTls& tls) {
  std::vector<std::string> protocols;
  bool isList = loader.forEach(slot, [&](const Slot& item, std::size_t) {
    std::string text;
    if (!loader.readNonEmpty(item, text)) return;
    if (std::find(std::begin(kAlpnProtocols), std::end(kAlpnProtocols), text) == std::end(kAlpnProtocols)) {
      std::string supported;
      for (std::string_view protocol : kAlpnProtocols) {
        supported += (supported.empty() ? "" : ", ") + std::string(protocol);
      }
      loader.error(item.mark, item.path + ": unsupported protocol " + quoteValue(text) +
                                  " (supported: " + supported + ")");
      return;
    }
    protocols.push_back(text);
  });
  if (isList) tls.alpn = std::move(protocols);
}

constexpr Field<ListenerTls> kListenerTlsFields[] = {
    {"certificates", parseCertificates, true},
    {"min_version", parseMinVersion},
    {"alpn", parseAlpn},
};

constexpr Field<Listener> kListenerFields[] = {
    {"address", [](Loader& l, const Slot& s, Listener& o) { l.readAddress(s, /*ipOnly=*/true, o.address); },
     true},
    {"tls",
     [](Loader& l, const Slot& s, Listener& o) {
       ListenerTls tls;
       if (l.parseFields(s, kListenerTlsFields, tls)) o.tls = std::move(tls);
     }},
    {"proxy_protocol", [](Loader& l, const Slot& s, Listener& o) { l.readBool(s, o.proxyProtocol); }},
};

// The same address written two ways ("[::1]:80", "[0:0::1]:80") is still the same socket.
std::string canonicalAddress(const SocketAddress& address) {
  char buffer[INET6_ADDRSTRLEN] = {};
  in6_addr v6;
  if (inet_pton(AF_INET6, address.host.c_str(), &v6) == 1) {
    inet_ntop(AF_INET6, &v6, buffer, sizeof buffer);
    return "[" + std::string(buffer) + "]:" + std::to_string(address.port);
  }
  return address.host + ":" + std::to_string(address.port);
}

void parseListeners(Loader& loader, const Slot& slot, ConfigDraft& draft) {
  draft.listenersMark = slot.mark;
  std::map<std::string, int> seen;  // canonical address -> line of its first listener
  bool isList = loader.forEach(slot, [&](const Slot& item, std::size_t) {
    Listener listener;
    listener.line = item.mark.line + 1;
    if (!loader.parseFields(item, kListenerFields, listener)) return;
    if (listener.address.port == 0) return;  // the address was missing or invalid, already reported
    auto [first, inserted] = seen.emplace(canonicalAddress(listener.address), listener.line);
    if (!inserted) {
      loader.error(markOf(item, "address"), item.path + ": duplicate listener address '" +
                                                listener.address.text + "' (first declared on line " +
                                                std::to_string(first->second) + ")");
      return;
    }
    if (listener.proxyProtocol) {
      draft.proxyProtocolListeners.emplace_back(listener.address.text, markOf(item, "proxy_protocol"));
    }
    draft.config.listeners.push_back(std::move(listener));
  });
  if (isList && slot.node.size() == 0) loader.error(slot.mark, "at least one listener is required");
}

// --- routes ----------------------------------------------------------------------------------------------

void parsePrefix(Loader& loader, const Slot& slot, RouteMatch& match) {
  std::string text;
  if (!loader.readNonEmpty(slot, text)) return;
  // A fragment ('#') is never sent to a server, so a prefix holding one could never match.
  if (!text.starts_with('/') || !isVisibleAscii(text) || text.find('#') != std::string::npos) {
    loader.error(slot.mark, slot.path + ": invalid path prefix " + quoteValue(text) +
                                " (must start with '/', no spaces or '#')");
    return;
  }
  match.prefix = text;
}

constexpr Field<RouteMatch> kMatchFields[] = {
    {"prefix", parsePrefix},
    {"host", [](Loader& l, const Slot& s, RouteMatch& m) { l.readHostPatterns(s, m.hosts); }},
};

void parseStatus(Loader& loader, const Slot& slot, int& status) {
  loader.readInteger(slot, 100, 599, status);
}

void parseContentType(Loader& loader, const Slot& slot, DirectResponse& response) {
  std::string text;
  if (!loader.readNonEmpty(slot, text)) return;
  if (!isHeaderValue(text)) {
    loader.error(slot.mark, slot.path + ": invalid content type " + quoteValue(text));
    return;
  }
  response.contentType = text;
}

constexpr Field<DirectResponse> kRespondFields[] = {
    {"status", [](Loader& l, const Slot& s, DirectResponse& r) { parseStatus(l, s, r.status); }},
    {"body", [](Loader& l, const Slot& s, DirectResponse& r) { l.readScalar(s, r.body); }},
    {"content_type", parseContentType},
};

void parseHeaderAdds(Loader& loader, const Slot& slot, HeaderEdits& edits) {
  if (!loader.expectMap(slot)) return;
  for (const auto& entry : slot.node) {
    Slot nameSlot{entry.first, entry.first.Mark(), slot.path};
    std::string name;
    if (!loader.readEditableHeaderName(nameSlot, name)) continue;
    bool duplicate = std::any_of(edits.add.begin(), edits.add.end(),
                                 [&](const auto& header) { return equalsIgnoreCase(header.first, name); });
    if (duplicate) {
      loader.error(nameSlot.mark, slot.path + ": header " + quoteValue(name) + " is listed twice");
      continue;
    }
    Slot valueSlot = Loader::child(slot, entry.first, entry.second);
    std::string value;
    if (!loader.readScalar(valueSlot, value)) continue;
    if (!isHeaderValue(value)) {
      loader.error(valueSlot.mark, valueSlot.path + ": header values must not contain control characters");
      continue;
    }
    edits.add.emplace_back(std::move(name), std::move(value));
  }
}

void parseHeaderRemoves(Loader& loader, const Slot& slot, HeaderEdits& edits) {
  loader.forEach(slot, [&](const Slot& item, std::size_t) {
    std::string name;
    if (loader.readEditableHeaderName(item, name)) edits.remove.push_back(std::move(name));
  });
}

constexpr Field<HeaderEdits> kHeaderEditFields[] = {
    {"add", parseHeaderAdds},
    {"remove", parseHeaderRemoves},
};

bool readWafMode(Loader& loader, const Slot& slot, WafMode& out);

constexpr Field<RouteDraft> kRouteFields[] = {
    {"name", [](Loader& l, const Slot& s, RouteDraft& d) { l.readName(s, d.route.name); }},
    {"match", [](Loader& l, const Slot& s, RouteDraft& d) { l.parseFields(s, kMatchFields, d.route.match); }},
    {"pool",
     [](Loader& l, const Slot& s, RouteDraft& d) {
       d.poolMark = s.mark;
       l.readName(s, d.route.pool);
     }},
    {"waf",
     [](Loader& l, const Slot& s, RouteDraft& d) {
       WafMode mode = WafMode::kBlock;
       if (readWafMode(l, s, mode)) d.route.waf = mode;
     }},
    {"respond",
     [](Loader& l, const Slot& s, RouteDraft& d) {
       DirectResponse response;
       if (l.parseFields(s, kRespondFields, response)) d.route.respond = std::move(response);
     }},
    {"timeouts",
     [](Loader& l, const Slot& s, RouteDraft& d) {
       TimeoutOverrides overrides;
       if (l.parseFields(s, kTimeoutFields, overrides)) d.timeouts = overrides;
     }},
    {"max_body", [](Loader& l, const Slot& s,
                    RouteDraft& d) { l.readSize(s, /*allowZero=*/true, d.route.maxBodyBytes); }},
    {"request_headers", [](Loader& l, const Slot& s,
                           RouteDraft& d) { l.parseFields(s, kHeaderEditFields, d.route.requestHeaders); }},
    {"response_headers", [](Loader& l, const Slot& s,
                            RouteDraft& d) { l.parseFields(s, kHeaderEditFields, d.route.responseHeaders); }},
};

void parseRoutes(Loader& loader, const Slot& slot, ConfigDraft& draft) {
  std::map<std::string, int> names;  // route name -> line of its first use
  loader.forEach(slot, [&](const Slot& item, std::size_t index) {
    RouteDraft route;
    route.mark = item.mark;
    route.route.line = item.mark.line + 1;
    if (!loader.parseFields(item, kRouteFields, route)) return;
    if (route.route.name.empty()) route.route.name = "route" + std::to_string(index);
    auto [first, inserted] = names.emplace(route.route.name, route.route.line);
    if (!inserted) {
      loader.error(markOf(item, "name"), item.path + ": duplicate route name '" + route.route.name +
                                             "' (first used on line " + std::to_string(first->second) + ")");
    }
    bool hasPool = item.node["pool"].IsDefined();
    bool hasRespond = item.node["respond"].IsDefined();
    if (hasPool && hasRespond) {
      loader.error(item.mark, item.path + ": a route has either 'pool' or 'respond', not both");
    } else if (!hasPool && !hasRespond) {
      loader.error(item.mark, item.path + ": a route needs 'pool' (forward) or 'respond' (answer directly)");
    }
    draft.routes.push_back(std::move(route));
  });
}

// --- pools -----------------------------------------------------------------------------------------------

constexpr Field<Origin> kOriginFields[] = {
    {"address", [](Loader& l, const Slot& s, Origin& o) { l.readAddress(s, /*ipOnly=*/false, o.address); },
     true},
    {"weight", [](Loader& l, const Slot& s, Origin& o) { l.readInteger(s, 1, 1000, o.weight); }},
    {"priority", [](Loader& l, const Slot& s,
                    Origin& o) { l.readInteger(s, 0, std::numeric_limits<uint32_t>::max(), o.priority); }},
};

void parseOrigins(Loader& loader, const Slot& slot, Pool& pool) {
  bool isList = loader.forEach(slot, [&](const Slot& item, std::size_t) {
    Origin origin;
    origin.line = item.mark.line + 1;
    if (!loader.parseFields(item, kOriginFields, origin)) return;
    if (origin.address.port == 0) return;  // missing or invalid, already reported
    for (const Origin& other : pool.origins) {
      if (canonicalAddress(other.address) == canonicalAddress(origin.address)) {
        loader.error(markOf(item, "address"), item.path + ": duplicate origin '" + origin.address.text +
                                                  "' (first listed on line " + std::to_string(other.line) +
                                                  ")");
        return;
      }
    }
    pool.origins.push_back(std::move(origin));
  });
  if (isList && slot.node.size() == 0) {
    loader.error(slot.mark, slot.path + ": a pool needs at least one origin");
  }
}

struct LbPolicyName {
  std::string_view name;
  LbPolicy policy;
};
constexpr LbPolicyName kLbPolicies[] = {{"round_robin", LbPolicy::kRoundRobin},
                                        {"least_request", LbPolicy::kLeastRequest},
                                        {"consistent_hash", LbPolicy::kConsistentHash}};

void parseLbPolicy(Loader& loader, const Slot& slot, Pool& pool) {
  std::string text;
  if (!loader.readScalar(slot, text)) return;
  auto it = std::find_if(std::begin(kLbPolicies), std::end(kLbPolicies),
                         [&](const LbPolicyName& entry) { return entry.name == text; });
  if (it == std::end(kLbPolicies)) {
    loader.error(slot.mark, slot.path + ": unknown policy " + quoteValue(text) +
                                " (valid: round_robin, least_request, consistent_hash)");
    return;
  }
  pool.lb = it->policy;
}

void parseSni(Loader& loader, const Slot& slot, OriginTls& tls) {
  std::string text;
  if (!loader.readNonEmpty(slot, text)) return;
  // SNI carries host names only (RFC 6066); an IP address there is refused by many servers.
  if (!isHostname(text)) {
    loader.error(slot.mark, slot.path + ": " + quoteValue(text) + " is not a host name");
    return;
  }
  tls.sni = lowerCase(text);
}

constexpr Field<OriginTls> kOriginTlsFields[] = {
    {"ca", [](Loader& l, const Slot& s, OriginTls& t) { l.readFile(s, t.caFile); }},
    {"sni", parseSni},
    {"verify", [](Loader& l, const Slot& s, OriginTls& t) { l.readBool(s, t.verify); }},
};

// `tls: true` asks for HTTPS with the defaults; `tls: false` is the same as leaving it out.
void parseOriginTls(Loader& loader, const Slot& slot, Pool& pool) {
  if (slot.node.IsScalar()) {
    bool enabled = false;
    if (!loader.readBool(slot, enabled)) return;
    if (enabled) {
      pool.tls.emplace();
    } else {
      pool.tls.reset();
    }
    return;
  }
  OriginTls tls;
  if (loader.parseFields(slot, kOriginTlsFields, tls)) pool.tls = std::move(tls);
}

void parseCheckPath(Loader& loader, const Slot& slot, HealthCheck& check) {
  std::string text;
  if (!loader.readNonEmpty(slot, text)) return;
  // It goes into a request line verbatim.
  if (!text.starts_with('/') || !isVisibleAscii(text)) {
    loader.error(slot.mark,
                 slot.path + ": invalid path " + quoteValue(text) + " (must start with '/', no spaces)");
    return;
  }
  check.path = text;
}

void parseCheckHost(Loader& loader, const Slot& slot, HealthCheck& check) {
  std::string text;
  if (!loader.readNonEmpty(slot, text)) return;
  if (!isVisibleAscii(text)) {
    loader.error(slot.mark, slot.path + ": invalid Host header value " + quoteValue(text));
    return;
  }
  check.host = text;
}

constexpr Field<HealthCheck> kHealthCheckFields[] = {
    {"path", parseCheckPath},
    {"host", parseCheckHost},
    {"expect_status", [](Loader& l, const Slot& s, HealthCheck& c) { parseStatus(l, s, c.expectStatus); }},
    {"interval", [](Loader& l, const Slot& s, HealthCheck& c) { l.readDuration(s, c.interval); }},
    {"timeout", [](Loader& l, const Slot& s, HealthCheck& c) { l.readDuration(s, c.timeout); }},
    {"rise", [](Loader& l, const Slot& s,
                HealthCheck& c) { l.readInteger(s, 1, std::numeric_limits<uint32_t>::max(), c.rise); }},
    {"fall", [](Loader& l, const Slot& s,
                HealthCheck& c) { l.readInteger(s, 1, std::numeric_limits<uint32_t>::max(), c.fall); }},
};

constexpr Field<OutlierDetection> kOutlierFields[] = {
    {"consecutive_failures",
     [](Loader& l, const Slot& s, OutlierDetection& o) {
       l.readInteger(s, 0, std::numeric_limits<uint32_t>::max(), o.consecutiveFailures);
     }},
    {"base_ejection",
     [](Loader& l, const Slot& s, OutlierDetection& o) { l.readDuration(s, o.baseEjection); }},
    {"max_ejection", [](Loader& l, const Slot& s, OutlierDetection& o) { l.readDuration(s, o.maxEjection); }},
};

void parseOutlierDetection(Loader& loader, const Slot& slot, Pool& pool) {
  if (!loader.parseFields(slot, kOutlierFields, pool.outlier)) return;
  if (pool.outlier.baseEjection > pool.outlier.maxEjection) {
    loader.error(slot.mark, slot.path + ": base_ejection must not exceed max_ejection");
  }
}

// More retries than this multiply load on an origin that is already failing.
constexpr uint32_t kMaxRetries = 10;

constexpr Field<Pool> kPoolFields[] = {
    {"lb", parseLbPolicy},
    {"hash_header", [](Loader& l, const Slot& s, Pool& p) { l.readHeaderName(s, p.hashHeader); }},
    {"origins", parseOrigins, true},
    {"tls", parseOriginTls},
    {"health_check",
     [](Loader& l, const Slot& s, Pool& p) {
       HealthCheck check;
       if (l.parseFields(s, kHealthCheckFields, check)) p.healthCheck = std::move(check);
     }},
    {"outlier_detection", parseOutlierDetection},
    {"retries", [](Loader& l, const Slot& s, Pool& p) { l.readInteger(s, 0, kMaxRetries, p.retries); }},
    {"max_idle_per_origin",
     [](Loader& l, const Slot& s, Pool& p) {
       l.readInteger(s, 0, std::numeric_limits<uint32_t>::max(), p.maxIdlePerOrigin);
     }},
    {"timeouts",
     [](Loader& l, const Slot& s, Pool& p) {
       TimeoutOverrides overrides;
       if (l.parseFields(s, kTimeoutFields, overrides)) overrides.applyTo(p.timeouts);
     }},
};

void parsePools(Loader& loader, const Slot& slot, ConfigDraft& draft) {
  if (!loader.expectMap(slot)) return;
  for (const auto& entry : slot.node) {
    Slot nameSlot{entry.first, entry.first.Mark(), slot.path};
    Pool pool;
    if (!loader.readName(nameSlot, pool.name)) continue;
    pool.line = nameSlot.mark.line + 1;
    auto [first, inserted] = draft.declaredPools.emplace(pool.name, pool.line);
    if (!inserted) {
      loader.error(nameSlot.mark, "duplicate pool '" + pool.name + "' (first declared on line " +
                                      std::to_string(first->second) + ")");
      continue;
    }
    Slot poolSlot = Loader::child(slot, entry.first, entry.second);
    if (!loader.parseFields(poolSlot, kPoolFields, pool)) continue;
    if (!pool.hashHeader.empty() && pool.lb != LbPolicy::kConsistentHash) {
      loader.error(markOf(poolSlot, "hash_header"),
                   poolSlot.path + ": hash_header is only used with lb: consistent_hash");
    }
    draft.config.pools.emplace(pool.name, std::move(pool));
  }
}

// --- limits, client timeouts, admin, access log ----------------------------------------------------------

constexpr Field<Limits> kLimitFields[] = {
    {"max_request_line",
     [](Loader& l, const Slot& s, Limits& o) { l.readSize(s, /*allowZero=*/false, o.maxRequestLine); }},
    {"max_header_bytes",
     [](Loader& l, const Slot& s, Limits& o) { l.readSize(s, /*allowZero=*/false, o.maxHeaderBytes); }},
    {"max_headers",
     [](Loader& l, const Slot& s, Limits& o) {
       l.readInteger(s, 1, std::numeric_limits<uint32_t>::max(), o.maxHeaders);
     }},
    {"max_body",
     [](Loader& l, const Slot& s, Limits& o) { l.readSize(s, /*allowZero=*/true, o.maxBodyBytes); }},
};

constexpr Field<ClientTimeouts> kClientTimeoutFields[] = {
    {"header", [](Loader& l, const Slot& s, ClientTimeouts& t) { l.readDuration(s, t.header); }},
    {"keep_alive", [](Loader& l, const Slot& s, ClientTimeouts& t) { l.readDuration(s, t.keepAlive); }},
    {"drain", [](Loader& l, const Slot& s, ClientTimeouts& t) { l.readDuration(s, t.drain); }},
};

constexpr Field<Admin> kAdminFields[] = {
    {"address", [](Loader& l, const Slot& s, Admin& a) { l.readAddress(s, /*ipOnly=*/true, a.address); },
     true},
};

void parseAdmin(Loader& loader, const Slot& slot, ConfigDraft& draft) {
  draft.adminMark = markOf(slot, "address");
  draft.config.admin.enabled = true;
  loader.parseFields(slot, kAdminFields, draft.config.admin);
}

void parseAccessLogPath(Loader& loader, const Slot& slot, AccessLog& log) {
  std::string text;
  if (!loader.readNonEmpty(slot, text)) return;
  log.path = text == "stdout" || text == "off" ? text : loader.resolvePath(text);
}

constexpr Field<AccessLog> kAccessLogFields[] = {
    {"path", parseAccessLogPath},
};

// `access_log: off` and `access_log: /var/log/x` are shorthands for `access_log: { path: ... }`.
void parseAccessLog(Loader& loader, const Slot& slot, ConfigDraft& draft) {
  if (slot.node.IsScalar()) {
    parseAccessLogPath(loader, slot, draft.config.accessLog);
  } else {
    loader.parseFields(slot, kAccessLogFields, draft.config.accessLog);
  }
}

// --- waf ---------------------------------------------------------------------------------------------------

bool readWafMode(Loader& loader, const Slot& slot, WafMode& out) {
  std::string text;
  if (!loader.readNonEmpty(slot, text)) return false;
  static constexpr std::pair<std::string_view, WafMode> kModes[] = {
      {"off", WafMode::kOff}, {"detect", WafMode::kDetect}, {"block", WafMode::kBlock}};
  for (const auto& [name, mode] : kModes) {
    if (text == name) {
      out = mode;
      return true;
    }
  }
  loader.error(slot.mark, slot.path + ": invalid mode " + quoteValue(text) + " (off, detect or block)");
  return false;
}

void parseWafRules(Loader& loader, const Slot& slot, WafConfig& waf) {
  loader.forEach(slot, [&](const Slot& item, std::size_t) {
    std::string text;
    if (loader.readNonEmpty(item, text)) waf.rules.push_back(loader.resolvePath(text));
  });
}

void parseWafLogPath(Loader& loader, const Slot& slot, std::string& out) {
  std::string text;
  if (loader.readNonEmpty(slot, text)) out = text == "stderr" ? std::string() : loader.resolvePath(text);
}

constexpr Field<WafConfig> kWafFields[] = {
    {"mode", [](Loader& l, const Slot& s, WafConfig& w) { readWafMode(l, s, w.mode); }},
    {"rules", parseWafRules},
    {"error_log", [](Loader& l, const Slot& s, WafConfig& w) { parseWafLogPath(l, s, w.errorLog); }},
    {"audit_log", [](Loader& l, const Slot& s, WafConfig& w) { parseWafLogPath(l, s, w.auditLog); }},
    {"block_status",
     [](Loader& l, const Slot& s, WafConfig& w) { l.readInteger(s, 100, 599, w.blockStatus); }},
    {"block_body", [](Loader& l, const Slot& s, WafConfig& w) { l.readScalar(s, w.blockBody); }},
};

void parseWaf(Loader& loader, const Slot& slot, ConfigDraft& draft) {
  WafConfig& waf = draft.config.waf;
  waf.enabled = true;
  waf.line = static_cast<int>(slot.mark.line) + 1;
  loader.parseFields(slot, kWafFields, waf);
  if (waf.rules.empty()) loader.error(slot.mark, slot.path + ": 'rules' must list at least one SecLang file");
}

// --- shield ----------------------------------------------------------------------------------------------

// "10.0.0.0/8", "2001:db8::/32" or a bare address. Checked here with inet_pton (the shield library builds
// the lists; the loader only makes sure every entry will parse there).
bool isCidr(std::string_view text) {
  std::size_t slash = text.find('/');
  std::string_view address = text.substr(0, slash);
  bool v4 = isIpv4(address);
  if (!v4 && !isIpv6(address)) return false;
  if (slash == std::string_view::npos) return true;
  uint64_t length = 0;
  std::string_view digits = text.substr(slash + 1);
  return digits.size() <= 3 && parseUnsigned(digits, length) && length <= (v4 ? 32u : 128u);
}

void readCidrList(Loader& loader, const Slot& slot, std::vector<std::string>& out) {
  loader.forEach(slot, [&](const Slot& item, std::size_t) {
    std::string text;
    if (!loader.readNonEmpty(item, text)) return;
    if (!isCidr(text)) {
      loader.error(item.mark, item.path + ": invalid address or CIDR " + quoteValue(text) +
                                  " (e.g. 10.0.0.0/8, 2001:db8::/32, 192.0.2.1)");
      return;
    }
    out.push_back(text);
  });
}

// A list entry is a CIDR (or address) written inline, or else the path of a list file.
void readListEntries(Loader& loader, const Slot& slot, std::vector<std::string>& cidrs,
                     std::vector<std::string>& files) {
  loader.forEach(slot, [&](const Slot& item, std::size_t) {
    std::string text;
    if (!loader.readNonEmpty(item, text)) return;
    if (isCidr(text)) {
      cidrs.push_back(text);
      return;
    }
    std::string path;
    if (loader.readFile(item, path)) files.push_back(std::move(path));
  });
}

constexpr Field<ShieldLists> kShieldListFields[] = {
    {"allow", [](Loader& l, const Slot& s, ShieldLists& o) { readListEntries(l, s, o.allow, o.allowFiles); }},
    {"deny", [](Loader& l, const Slot& s, ShieldLists& o) { readListEntries(l, s, o.deny, o.denyFiles); }},
};

void readCountries(Loader& loader, const Slot& slot, std::vector<std::string>& out) {
  loader.forEach(slot, [&](const Slot& item, std::size_t) {
    std::string text;
    if (!loader.readNonEmpty(item, text)) return;
    bool ok = text.size() == 2 && std::all_of(text.begin(), text.end(), [](char c) {
                return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
              });
    if (!ok) {
      loader.error(item.mark, item.path + ": invalid country code " + quoteValue(text) +
                                  " (two letters, ISO 3166-1 alpha-2, e.g. DE)");
      return;
    }
    std::string upper = text;
    for (char& c : upper) c = static_cast<char>(c >= 'a' ? c - 'a' + 'A' : c);
    out.push_back(upper);
  });
}

constexpr Field<ShieldGeo> kShieldGeoFields[] = {
    {"database", [](Loader& l, const Slot& s, ShieldGeo& g) { l.readFile(s, g.database); }, true},
    {"allow_countries",
     [](Loader& l, const Slot& s, ShieldGeo& g) { readCountries(l, s, g.allowCountries); }},
    {"deny_countries", [](Loader& l, const Slot& s, ShieldGeo& g) { readCountries(l, s, g.denyCountries); }},
};

constexpr Field<ShieldPenalty> kShieldPenaltyFields[] = {
    {"threshold",
     [](Loader& l, const Slot& s, ShieldPenalty& p) { l.readInteger(s, 1, 65535, p.threshold); }},
    {"window", [](Loader& l, const Slot& s, ShieldPenalty& p) { l.readDuration(s, p.window); }},
    {"duration", [](Loader& l, const Slot& s, ShieldPenalty& p) { l.readDuration(s, p.duration); }},
};

// Per-address counts are 16-bit in the shared table (src/shield/conn_limits.h).
constexpr uint32_t kMaxPerClient = 65535;

constexpr Field<ShieldConnections> kShieldConnectionFields[] = {
    {"max_total",
     [](Loader& l, const Slot& s, ShieldConnections& c) { l.readInteger(s, 0, 10'000'000, c.maxTotal); }},
    {"max_per_ip",
     [](Loader& l, const Slot& s, ShieldConnections& c) { l.readInteger(s, 0, kMaxPerClient, c.maxPerIp); }},
    {"max_requests_per_ip",
     [](Loader& l, const Slot& s, ShieldConnections& c) {
       l.readInteger(s, 0, kMaxPerClient, c.maxRequestsPerIp);
     }},
    {"min_body_rate", [](Loader& l, const Slot& s,
                         ShieldConnections& c) { l.readSize(s, /*allowZero=*/true, c.minBodyRate); }},
    {"body_rate_window",
     [](Loader& l, const Slot& s, ShieldConnections& c) { l.readDuration(s, c.bodyRateWindow); }},
};

void readRate(Loader& loader, const Slot& slot, RateLimitRule& rule) {
  std::string text;
  if (!loader.readNonEmpty(slot, text)) return;
  if (!parseRate(text, rule.perSecond)) {
    loader.error(slot.mark, slot.path + ": invalid rate " + quoteValue(text) +
                                " (a count per s, min or h, e.g. 50/s or 2000/min)");
  }
}

void readRateKey(Loader& loader, const Slot& slot, RateLimitRule& rule) {
  auto readOne = [&](const Slot& item, std::size_t) {
    std::string text;
    if (!loader.readNonEmpty(item, text)) return;
    RateKeyPart part;
    if (text == "client_ip") {
      part.kind = RateKeyKind::kClientIp;
    } else if (text == "client_prefix") {
      part.kind = RateKeyKind::kClientPrefix;
    } else if (text.starts_with("header:") && isHeaderName(text.substr(7))) {
      part.kind = RateKeyKind::kHeader;
      part.header = text.substr(7);
    } else {
      loader.error(item.mark, item.path + ": invalid key " + quoteValue(text) +
                                  " (client_ip, client_prefix or header:NAME, or a list of them)");
      return;
    }
    rule.key.push_back(std::move(part));
  };
  if (slot.node.IsScalar()) {
    readOne(slot, 0);
  } else if (loader.forEach(slot, readOne) && slot.node.size() == 0) {
    loader.error(slot.mark, slot.path + " must name at least one key part");
  }
}

void readMethods(Loader& loader, const Slot& slot, RateLimitMatch& match) {
  auto readOne = [&](const Slot& item, std::size_t) {
    std::string text;
    if (!loader.readNonEmpty(item, text)) return;
    if (!std::all_of(text.begin(), text.end(), isTokenChar)) {
      loader.error(item.mark, item.path + ": invalid method " + quoteValue(text));
      return;
    }
    std::string upper = text;
    for (char& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    match.methods.push_back(upper);
  };
  if (slot.node.IsScalar()) {
    readOne(slot, 0);
  } else {
    loader.forEach(slot, readOne);
  }
}

constexpr Field<RateLimitMatch> kHeaderMatchFields[] = {
    {"name", [](Loader& l, const Slot& s, RateLimitMatch& m) { l.readHeaderName(s, m.header); }, true},
    {"value",
     [](Loader& l, const Slot& s, RateLimitMatch& m) {
       std::string value;
       if (l.readScalar(s, value)) m.headerValue = value;
     }},
};

// A rule being read, with where its route references are (checked once every route is known).
struct RateRuleDraft {
  RateLimitRule rule;
  ConfigDraft* draft;
};

constexpr Field<RateRuleDraft> kRateMatchFields[] = {
    {"route",
     [](Loader& l, const Slot& s, RateRuleDraft& d) {
       auto readOne = [&](const Slot& item, std::size_t) {
         std::string name;
         if (!l.readName(item, name)) return;
         d.draft->shieldRouteRefs.emplace_back(name, item.mark);
         d.rule.match.routes.push_back(name);
       };
       if (s.node.IsScalar()) {
         readOne(s, 0);
       } else {
         l.forEach(s, readOne);
       }
     }},
    {"host", [](Loader& l, const Slot& s, RateRuleDraft& d) { l.readHostPatterns(s, d.rule.match.hosts); }},
    {"prefix",
     [](Loader& l, const Slot& s, RateRuleDraft& d) {
       RouteMatch m;
       parsePrefix(l, s, m);
       if (s.node.IsScalar()) d.rule.match.prefix = m.prefix;
     }},
    {"method", [](Loader& l, const Slot& s, RateRuleDraft& d) { readMethods(l, s, d.rule.match); }},
    {"header",
     [](Loader& l, const Slot& s, RateRuleDraft& d) {
       if (s.node.IsScalar()) {
         l.readHeaderName(s, d.rule.match.header);  // presence only
       } else {
         l.parseFields(s, kHeaderMatchFields, d.rule.match);
       }
     }},
};

void readAction(Loader& loader, const Slot& slot, RateLimitRule& rule) {
  std::string text;
  if (!loader.readNonEmpty(slot, text)) return;
  if (text == "reject") {
    rule.logOnly = false;
  } else if (text == "log") {
    rule.logOnly = true;
  } else {
    loader.error(slot.mark, slot.path + ": invalid action " + quoteValue(text) + " (reject or log)");
  }
}

// Bursts larger than this would be a limit in name only.
constexpr uint32_t kMaxBurst = 10'000'000;

constexpr Field<RateRuleDraft> kRateLimitFields[] = {
    {"name", [](Loader& l, const Slot& s, RateRuleDraft& d) { l.readName(s, d.rule.name); }, true},
    {"key", [](Loader& l, const Slot& s, RateRuleDraft& d) { readRateKey(l, s, d.rule); }, true},
    {"rate", [](Loader& l, const Slot& s, RateRuleDraft& d) { readRate(l, s, d.rule); }, true},
    {"burst",
     [](Loader& l, const Slot& s, RateRuleDraft& d) { l.readInteger(s, 1, kMaxBurst, d.rule.burst); }},
    {"match", [](Loader& l, const Slot& s, RateRuleDraft& d) { l.parseFields(s, kRateMatchFields, d); }},
    {"action", [](Loader& l, const Slot& s, RateRuleDraft& d) { readAction(l, s, d.rule); }},
};

void parseRateLimits(Loader& loader, const Slot& slot, ConfigDraft& draft, ShieldConfig& shield) {
  std::map<std::string, int> names;
  loader.forEach(slot, [&](const Slot& item, std::size_t) {
    RateRuleDraft rule{{}, &draft};
    rule.rule.line = item.mark.line + 1;
    if (!loader.parseFields(item, kRateLimitFields, rule)) return;
    if (rule.rule.name.empty()) return;  // missing, already reported
    auto [first, inserted] = names.emplace(rule.rule.name, rule.rule.line);
    if (!inserted) {
      loader.error(markOf(item, "name"), item.path + ": duplicate rate limit name '" + rule.rule.name +
                                             "' (first used on line " + std::to_string(first->second) + ")");
      return;
    }
    if (rule.rule.burst == 0) {
      rule.rule.burst =
          static_cast<uint32_t>(std::clamp(std::ceil(rule.rule.perSecond), 1.0, double{kMaxBurst}));
    }
    shield.rateLimits.push_back(std::move(rule.rule));
  });
}

void parseRedisAddress(Loader& loader, const Slot& slot, ShieldConfig& shield) {
  SocketAddress address;
  if (loader.readAddress(slot, /*ipOnly=*/false, address)) shield.redis = address.text;
}

void parseRedisFailure(Loader& loader, const Slot& slot, ShieldConfig& shield) {
  std::string text;
  if (!loader.readNonEmpty(slot, text)) return;
  if (text == "local") {
    shield.redisFailure = RedisFailure::kLocal;
  } else if (text == "deny") {
    shield.redisFailure = RedisFailure::kDeny;
  } else {
    loader.error(slot.mark, slot.path + ": invalid value " + quoteValue(text) + " (local or deny)");
  }
}

void parseEventLog(Loader& loader, const Slot& slot, ShieldConfig& shield) {
  std::string text;
  if (!loader.readNonEmpty(slot, text)) return;
  shield.eventLog = text == "stdout" || text == "stderr" || text == "off" ? text : loader.resolvePath(text);
}

// Rate-limit tables above this would be a memory mistake (16 bytes a slot: 1 GiB).
constexpr uint64_t kMaxTableSize = uint64_t{1} << 26;

using ShieldField = Field<std::pair<ConfigDraft*, ShieldConfig*>>;
constexpr ShieldField kShieldFields[] = {
    {"rate_limits",
     [](Loader& l, const Slot& s, std::pair<ConfigDraft*, ShieldConfig*>& d) {
       parseRateLimits(l, s, *d.first, *d.second);
     }},
    {"trusted_proxies",
     [](Loader& l, const Slot& s, std::pair<ConfigDraft*, ShieldConfig*>& d) {
       readCidrList(l, s, d.second->trustedProxies);
     }},
    {"connections",
     [](Loader& l, const Slot& s, std::pair<ConfigDraft*, ShieldConfig*>& d) {
       l.parseFields(s, kShieldConnectionFields, d.second->connections);
     }},
    {"lists",
     [](Loader& l, const Slot& s, std::pair<ConfigDraft*, ShieldConfig*>& d) {
       l.parseFields(s, kShieldListFields, d.second->lists);
     }},
    {"geo",
     [](Loader& l, const Slot& s, std::pair<ConfigDraft*, ShieldConfig*>& d) {
       ShieldGeo geo;
       if (!l.parseFields(s, kShieldGeoFields, geo)) return;
       if (!geo.allowCountries.empty() && !geo.denyCountries.empty()) {
         l.error(s.mark, s.path + ": give allow_countries or deny_countries, not both");
       }
       d.second->geo = std::move(geo);
     }},
    {"penalty_box",
     [](Loader& l, const Slot& s, std::pair<ConfigDraft*, ShieldConfig*>& d) {
       d.second->penalty.enabled = true;
       if (s.node.IsNull()) return;  // `penalty_box:` alone: on with the defaults
       l.parseFields(s, kShieldPenaltyFields, d.second->penalty);
       if (d.second->penalty.window.count() > 24 * 3600 * 1000) {
         l.error(s.mark, s.path + ".window must not exceed 24h");
       }
     }},
    {"redis", [](Loader& l, const Slot& s,
                 std::pair<ConfigDraft*, ShieldConfig*>& d) { parseRedisAddress(l, s, *d.second); }},
    {"redis_failure", [](Loader& l, const Slot& s,
                         std::pair<ConfigDraft*, ShieldConfig*>& d) { parseRedisFailure(l, s, *d.second); }},
    {"table_size",
     [](Loader& l, const Slot& s, std::pair<ConfigDraft*, ShieldConfig*>& d) {
       l.readInteger(s, 64, kMaxTableSize, d.second->tableSize);
     }},
    {"event_log", [](Loader& l, const Slot& s,
                     std::pair<ConfigDraft*, ShieldConfig*>& d) { parseEventLog(l, s, *d.second); }},
    {"event_log_rate",
     [](Loader& l, const Slot& s, std::pair<ConfigDraft*, ShieldConfig*>& d) {
       l.readInteger(s, 1, 1000000, d.second->eventLogRate);
     }},
};

void parseShield(Loader& loader, const Slot& slot, ConfigDraft& draft) {
  ShieldConfig& shield = draft.config.shield;
  shield.enabled = true;
  shield.line = static_cast<int>(slot.mark.line) + 1;
  if (slot.node.IsNull()) return;  // `shield:` alone: on, with nothing configured
  std::pair<ConfigDraft*, ShieldConfig*> target{&draft, &shield};
  loader.parseFields(slot, kShieldFields, target);
}

// --- dns -------------------------------------------------------------------------------------------------

// A zone name: labels of letters, digits, '-' and '_' (1..63 bytes each, 253 in all), an optional final dot,
// or "." for the root. Stored lower-cased without the final dot.
bool readZoneName(Loader& loader, const Slot& slot, std::string& out) {
  std::string text;
  if (!loader.readNonEmpty(slot, text)) return false;
  std::string name = text == "." ? text : lowerCase(text);
  if (name != "." && name.back() == '.') name.pop_back();
  bool ok = name == "." || (!name.empty() && name.size() <= 253);
  if (ok && name != ".") {
    std::size_t labelStart = 0;
    for (std::size_t i = 0; i <= name.size() && ok; ++i) {
      if (i == name.size() || name[i] == '.') {
        ok = i > labelStart && i - labelStart <= 63;
        labelStart = i + 1;
      } else {
        ok = isAlnum(name[i]) || name[i] == '-' || name[i] == '_';
      }
    }
  }
  if (!ok) {
    loader.error(slot.mark, slot.path + ": invalid zone name " + quoteValue(text) + " (e.g. example.com)");
    return false;
  }
  out = std::move(name);
  return true;
}

void readAddressList(Loader& loader, const Slot& slot, bool ipOnly, std::vector<SocketAddress>& out) {
  loader.forEach(slot, [&](const Slot& item, std::size_t) {
    SocketAddress address;
    if (loader.readAddress(item, ipOnly, address)) out.push_back(std::move(address));
  });
}

constexpr Field<DnsZoneConfig> kDnsZoneFields[] = {
    {"name", [](Loader& l, const Slot& s, DnsZoneConfig& z) { readZoneName(l, s, z.name); }, true},
    {"file", [](Loader& l, const Slot& s, DnsZoneConfig& z) { l.readFile(s, z.file); }},
    {"primary",
     [](Loader& l, const Slot& s, DnsZoneConfig& z) {
       SocketAddress address;
       if (l.readAddress(s, /*ipOnly=*/true, address)) z.primary = std::move(address);
     }},
    {"allow_transfer",
     [](Loader& l, const Slot& s, DnsZoneConfig& z) { readCidrList(l, s, z.allowTransfer); }},
    {"notify",
     [](Loader& l, const Slot& s, DnsZoneConfig& z) { readAddressList(l, s, /*ipOnly=*/true, z.notify); }},
};

void parseDnsZones(Loader& loader, const Slot& slot, DnsConfig& dns) {
  std::map<std::string, int> seen;  // name -> line
  bool isList = loader.forEach(slot, [&](const Slot& item, std::size_t) {
    DnsZoneConfig zone;
    zone.line = static_cast<int>(item.mark.line) + 1;
    if (!loader.parseFields(item, kDnsZoneFields, zone)) return;
    if (zone.name.empty()) return;  // reported
    bool hasFile = !zone.file.empty() || item.node["file"];
    if (hasFile == zone.primary.has_value()) {
      loader.error(item.mark, item.path + ": zone '" + zone.name +
                                  "' needs exactly one of 'file' (we are its primary) and 'primary' (we are "
                                  "a secondary)");
      return;
    }
    auto [first, inserted] = seen.emplace(zone.name, zone.line);
    if (!inserted) {
      loader.error(markOf(item, "name"), item.path + ": duplicate zone '" + zone.name +
                                             "' (first declared on line " + std::to_string(first->second) +
                                             ")");
      return;
    }
    dns.zones.push_back(std::move(zone));
  });
  if (isList && slot.node.size() == 0) loader.error(slot.mark, slot.path + ": at least one zone is required");
}

constexpr Field<DnsTcp> kDnsTcpFields[] = {
    {"max_connections",
     [](Loader& l, const Slot& s, DnsTcp& t) { l.readInteger(s, 1, 1000000, t.maxConnections); }},
    {"idle_timeout", [](Loader& l, const Slot& s, DnsTcp& t) { l.readDuration(s, t.idleTimeout); }},
    {"io_timeout", [](Loader& l, const Slot& s, DnsTcp& t) { l.readDuration(s, t.ioTimeout); }},
};

constexpr Field<DnsRrl> kDnsRrlFields[] = {
    {"enabled", [](Loader& l, const Slot& s, DnsRrl& r) { l.readBool(s, r.enabled); }},
    {"responses_per_second",
     [](Loader& l, const Slot& s, DnsRrl& r) { l.readInteger(s, 1, 1000000, r.responsesPerSecond); }},
    {"window", [](Loader& l, const Slot& s, DnsRrl& r) { l.readDuration(s, r.window); }},
    {"slip", [](Loader& l, const Slot& s, DnsRrl& r) { l.readInteger(s, 0, 10, r.slip); }},
    {"ipv4_prefix", [](Loader& l, const Slot& s, DnsRrl& r) { l.readInteger(s, 8, 32, r.ipv4Prefix); }},
    {"ipv6_prefix", [](Loader& l, const Slot& s, DnsRrl& r) { l.readInteger(s, 16, 128, r.ipv6Prefix); }},
    {"table_size",
     [](Loader& l, const Slot& s, DnsRrl& r) {
       uint64_t size = 0;
       if (!l.readInteger(s, 1024, 1u << 24, size)) return;
       if ((size & (size - 1)) != 0) {
         l.error(s.mark, s.path + " must be a power of two, got " + std::to_string(size));
         return;
       }
       r.tableSize = size;
     }},
};

void parseDnsCookieSecret(Loader& loader, const Slot& slot, DnsCookies& cookies) {
  std::string text;
  if (!loader.readScalar(slot, text, "32 hex digits")) return;
  bool ok = text.size() == 32 && std::all_of(text.begin(), text.end(), [](char c) {
              return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
            });
  if (!ok) {
    loader.error(slot.mark, slot.path + " must be 32 hex digits (a 128-bit key), got " +
                                std::to_string(text.size()) + " characters");
    return;
  }
  cookies.secret = lowerCase(text);
}

constexpr Field<DnsCookies> kDnsCookieFields[] = {
    {"enabled", [](Loader& l, const Slot& s, DnsCookies& c) { l.readBool(s, c.enabled); }},
    {"secret", parseDnsCookieSecret},
};

constexpr Field<DnsConfig> kDnsFields[] = {
    {"listen",
     [](Loader& l, const Slot& s, DnsConfig& d) {
       bool isList = l.expectSequence(s);
       if (!isList) return;
       readAddressList(l, s, /*ipOnly=*/true, d.listen);
       if (s.node.size() == 0) l.error(s.mark, s.path + ": at least one address is required");
     },
     true},
    {"zones", parseDnsZones, true},
    {"edns_udp_size",
     [](Loader& l, const Slot& s, DnsConfig& d) { l.readInteger(s, 512, 4096, d.ednsUdpSize); }},
    {"udp_coalesce_us",
     [](Loader& l, const Slot& s, DnsConfig& d) { l.readInteger(s, 0, 1000, d.udpCoalesceUs); }},
    {"answer_cache_mb",
     [](Loader& l, const Slot& s, DnsConfig& d) { l.readInteger(s, 0, 1024, d.answerCacheMb); }},
    {"tcp", [](Loader& l, const Slot& s, DnsConfig& d) { l.parseFields(s, kDnsTcpFields, d.tcp); }},
    {"rrl", [](Loader& l, const Slot& s, DnsConfig& d) { l.parseFields(s, kDnsRrlFields, d.rrl); }},
    {"cookies",
     [](Loader& l, const Slot& s, DnsConfig& d) { l.parseFields(s, kDnsCookieFields, d.cookies); }},
};

void parseDns(Loader& loader, const Slot& slot, ConfigDraft& draft) {
  DnsConfig& dns = draft.config.dns;
  dns.enabled = true;
  dns.line = static_cast<int>(slot.mark.line) + 1;
  loader.parseFields(slot, kDnsFields, dns);
}

// --- the document ----------------------------------------------------------------------------------------

// Top-level sections. A new subsystem adds its section here, with one function that reads it.
constexpr Field<ConfigDraft> kSections[] = {
    {"workers", [](Loader& l, const Slot& s, ConfigDraft& d) { l.readInteger(s, 0, 256, d.config.workers); }},
    {"listeners", parseListeners},
    {"routes", parseRoutes},
    {"pools", parsePools},
    {"limits",
     [](Loader& l, const Slot& s, ConfigDraft& d) { l.parseFields(s, kLimitFields, d.config.limits); }},
    {"client_timeouts",
     [](Loader& l, const Slot& s, ConfigDraft& d) {
       l.parseFields(s, kClientTimeoutFields, d.config.clientTimeouts);
     }},
    {"admin", parseAdmin},
    {"access_log", parseAccessLog},
    {"waf", parseWaf},
    {"shield", parseShield},
    {"dns", parseDns},
};

// Checks that span sections, once every section has been read.
void Loader::resolve(ConfigDraft& draft) {
  Config& config = draft.config;
  // A DNS-only gateway needs no HTTP listener.
  if (!draft.listenersMark && !config.dns.enabled) {
    error(draft.rootMark, "at least one listener is required (key 'listeners')");
  }

  for (RouteDraft& route : draft.routes) {
    if (route.route.pool.empty()) continue;  // a respond route, or a pool name already reported
    auto pool = config.pools.find(route.route.pool);
    if (pool == config.pools.end()) {
      // A pool that was declared but had errors is already reported; don't report it twice.
      if (draft.declaredPools.count(route.route.pool) != 0) continue;
      std::string known;
      for (const auto& [name, unused] : config.pools) known += (known.empty() ? "" : ", ") + name;
      error(route.poolMark, "route '" + route.route.name + "' references unknown pool '" + route.route.pool +
                                "'" +
                                (known.empty() ? " (no pools are defined)" : " (defined: " + known + ")"));
      continue;
    }
    if (route.timeouts) {
      Timeouts timeouts = pool->second.timeouts;
      route.timeouts->applyTo(timeouts);
      route.route.timeouts = timeouts;
    }
  }
  for (RouteDraft& route : draft.routes) config.routes.push_back(std::move(route.route));

  for (const auto& [name, mark] : draft.shieldRouteRefs) {
    bool known = std::any_of(config.routes.begin(), config.routes.end(),
                             [&](const Route& r) { return r.name == name; });
    if (!known) error(mark, "rate limit refers to unknown route '" + name + "'");
  }
  if (config.shield.trustedProxies.empty()) {
    for (const auto& [address, mark] : draft.proxyProtocolListeners) {
      error(mark,
            "listener " + address +
                ": proxy_protocol needs shield.trusted_proxies (the proxies allowed to send the header)");
    }
  }

  // DNS listens on TCP too, so its addresses must not be an HTTP listener's or the admin's.
  for (const SocketAddress& address : config.dns.listen) {
    for (const Listener& listener : config.listeners) {
      if (canonicalAddress(listener.address) == canonicalAddress(address)) {
        YAML::Mark dnsMark;
        dnsMark.line = config.dns.line - 1;
        error(dnsMark, "dns listen address '" + address.text + "' is already used by the listener on line " +
                           std::to_string(listener.line));
      }
    }
    if (config.admin.enabled && canonicalAddress(config.admin.address) == canonicalAddress(address)) {
      error(*draft.adminMark,
            "admin address '" + config.admin.address.text + "' is already a dns listen address");
    }
  }
  if (config.admin.enabled && config.admin.address.port != 0) {
    for (const Listener& listener : config.listeners) {
      if (canonicalAddress(listener.address) == canonicalAddress(config.admin.address)) {
        error(*draft.adminMark, "admin address '" + config.admin.address.text +
                                    "' is already used by the listener on line " +
                                    std::to_string(listener.line));
      }
    }
  }
}

// Start of each YAML document, for counting them.
class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;

  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
  }
  void OnMapEnd() override {}
};

// Only the first document would be used, so a second one is an error rather than silently ignored. Not
// YAML::LoadAll(): in yaml-cpp 0.7 it never returns (and grows without bound) on a stray ',' at the top
// level, where the parser reports an empty document without consuming anything. Looking at two documents
// at most, and checking that the second starts further on, is bounded. False on a syntax error.
bool Loader::checkSingleDocument(const std::string& text) {
  DocumentStarts starts;
  std::istringstream in(text);
  YAML::Parser parser(in);
  for (int documents = 0; documents < 2 && parser.HandleNextDocument(starts); ++documents) {
  }
  if (starts.marks.size() < 2) return true;
  const YAML::Mark& second = starts.marks[1];
  if (second.pos <= starts.marks[0].pos) {
    std::size_t at = std::min(static_cast<std::size_t>(std::max(second.pos, 0)), text.size());
    error(second, "unexpected " + quoteValue(text.substr(at, 1)));
    return false;
  }
  error(second, "a second YAML document starts here; a configuration file holds one");
  return true;
}

ConfigResult Loader::load(const std::string& text) {
  ConfigDraft draft;
  draft.config.file = file_;
  try {
    YAML::Node root = YAML::Load(text);
    if (checkSingleDocument(text)) {
      Slot rootSlot{root, root.Mark(), ""};
      draft.rootMark = root.IsNull() ? YAML::Mark() : root.Mark();
      // An empty file is an empty mapping: it then fails for what it lacks (listeners), not for its type.
      if (root.IsNull() || parseFields(rootSlot, kSections, draft)) resolve(draft);
    }
  } catch (const YAML::Exception& e) {
    error(e.mark, e.msg);
  } catch (const std::exception& e) {
    error(YAML::Mark(), std::string("internal error while loading: ") + e.what());
  }

  ConfigResult result;
  if (errors_.empty()) {
    result.config = std::move(draft.config);
    return result;
  }
  // Reported in file order, as an editor's problem list would show them.
  std::stable_sort(errors_.begin(), errors_.end(), [](const Error& a, const Error& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  for (const Error& e : errors_) {
    result.errors.push_back(
        {file_ + ":" + std::to_string(e.line) + ":" + std::to_string(e.column) + ": " + e.message});
  }
  return result;
}

}  // namespace

ConfigResult loadConfig(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::string text;
  int readError = 0;
  if (fd < 0) {
    readError = errno;
  } else {
    char buffer[16384];
    for (;;) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n > 0) {
        text.append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0) {
        break;
      } else if (errno != EINTR) {
        readError = errno;
        break;
      }
    }
    ::close(fd);
  }
  if (readError != 0) {
    ConfigResult result;
    result.errors.push_back({path + ": cannot read: " + std::strerror(readError)});
    return result;
  }
  return Loader(path, std::filesystem::path(path).parent_path()).load(text);
}

ConfigResult parseConfig(const std::string& yamlText, const std::string& name) {
  return Loader(name, {}).load(yamlText);
}

}  // namespace bulwark
