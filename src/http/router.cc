#include "http/router.h"

#include <cctype>

namespace bulwark::http {

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequalsLower(std::string_view mixed, std::string_view lowerText) noexcept {
  if (mixed.size() != lowerText.size()) return false;
  for (std::size_t i = 0; i < mixed.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(mixed[i])) != lowerText[i]) return false;
  }
  return true;
}
}  // namespace

Router::Router(const std::vector<Route>& routes) {
  entries_.reserve(routes.size());
  for (const Route& r : routes) {
    Entry e;
    e.prefix = r.match.prefix;
    for (const std::string& h : r.match.hosts) {
      HostPattern p;
      if (h.size() > 2 && h[0] == '*' && h[1] == '.') {
        p.wildcard = true;
        p.text = lower(std::string_view(h).substr(1));
      } else {
        p.text = lower(h);
      }
      e.hosts.push_back(std::move(p));
    }
    entries_.push_back(std::move(e));
  }
}

std::string_view Router::hostWithoutPort(std::string_view host) noexcept {
  if (!host.empty() && host.front() == '[') {  // [v6]:port
    std::size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  std::size_t colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(':') == colon) return host.substr(0, colon);
  return host;
}

int Router::match(std::string_view host, std::string_view path) const noexcept {
  std::string_view bare = hostWithoutPort(host);
  if (!bare.empty() && bare.back() == '.') bare.remove_suffix(1);  // absolute FQDN form
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (path.substr(0, e.prefix.size()) != e.prefix) continue;
    if (e.hosts.empty()) return static_cast<int>(i);
    for (const HostPattern& p : e.hosts) {
      if (p.wildcard) {
        if (bare.size() > p.text.size() && iequalsLower(bare.substr(bare.size() - p.text.size()), p.text)) {
          return static_cast<int>(i);
        }
      } else if (iequalsLower(bare, p.text)) {
        return static_cast<int>(i);
      }
    }
  }
  return -1;
}

}  // namespace bulwark::http
