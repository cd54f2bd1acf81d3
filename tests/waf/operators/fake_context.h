// A stand-in for the transaction in operator tests: macros resolve from a map ("tx.name" -> value) and
// TX:0..9 are plain optional strings, preset to kStale so a test sees what an operator set, removed or
// left alone.
#pragma once

#include <array>
#include <cctype>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "waf/operators/operator.h"

namespace bulwark::waf::testing {

inline constexpr std::string_view kStale = "<stale>";

class FakeContext : public OperatorContext {
 public:
  FakeContext() { resetCaptures(); }

  void resolve(const MacroPart& ref, std::string& out) override {
    std::string name;
    for (char c : ref.collection) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!ref.key.empty()) name += "." + ref.key;
    auto it = vars.find(name);
    if (it != vars.end()) out += it->second;
  }
  bool captureEnabled() const noexcept override { return capture; }
  void setCapture(int index, std::string_view value) override { captures.at(index) = std::string(value); }
  void unsetCapture(int index) override { captures.at(index).reset(); }
  std::string& scratch() noexcept override { return scratch_; }

  void resetCaptures() { captures.fill(std::string(kStale)); }

  std::map<std::string, std::string> vars;  // lower-case "collection.key"
  bool capture = false;
  std::array<std::optional<std::string>, 10> captures;

 private:
  std::string scratch_;
};

}  // namespace bulwark::waf::testing
