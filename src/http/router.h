// Request routing: first route (in config order) whose host pattern and path prefix match wins.
//
// Built once per config snapshot; match() allocates nothing. Host comparison is case-insensitive and
// ignores a port suffix; "*.example.com" matches one or more labels in front of ".example.com" but not
// "example.com" itself.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"

namespace bulwark::http {

class Router {
 public:
  explicit Router(const std::vector<Route>& routes);
  // Index into the config's routes, or -1 if none matches. `host` is the Host header value (may carry a
  // port), `path` the request target's path (query included; prefix matching only looks at the start).
  int match(std::string_view host, std::string_view path) const noexcept;

  // Strips the port from a Host value ("api.example.com:443" -> "api.example.com", "[::1]:80" -> "[::1]").
  static std::string_view hostWithoutPort(std::string_view host) noexcept;

 private:
  struct HostPattern {
    std::string text;  // lower-case; for wildcards the suffix including the dot (".example.com")
    bool wildcard = false;
  };
  struct Entry {
    std::vector<HostPattern> hosts;  // empty: any host
    std::string prefix;
  };
  std::vector<Entry> entries_;
};

}  // namespace bulwark::http
