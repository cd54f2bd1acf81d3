// @ipMatch (comma-separated addresses and CIDR blocks) and @ipMatchFromFile / @ipMatchF (one per line).
//
// Stricter than v2 at load, never at match time: every entry must parse, or the rule does not load (v2
// skipped some bad file lines with only a log line). Blank lines and '#' comments are allowed in files.
#include <memory>
#include <string>

#include "waf/operators/factories.h"
#include "waf/operators/ip_set.h"
#include "waf/operators/util.h"

namespace bulwark::waf::operators {

namespace {

class IpMatchOperator final : public Operator {
 public:
  explicit IpMatchOperator(IpSet set) : set_(std::move(set)) {}
  bool match(OperatorContext&, std::string_view input) const override { return set_.contains(input); }

 private:
  IpSet set_;
};

}  // namespace

std::unique_ptr<Operator> createIpMatch(const OperatorArgs& args, std::string& error) {
  IpSet set;
  std::string_view rest = args.param;
  while (true) {
    std::size_t comma = rest.find(',');
    std::string_view entry = trimCSpace(rest.substr(0, comma));
    // Like v2's strtok(), empty pieces ("a,,b", a trailing comma) are skipped.
    if (!entry.empty() && !set.add(entry, error)) return nullptr;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (set.empty()) {
    error = "missing parameter for operator @ipMatch";
    return nullptr;
  }
  set.finish();
  return std::make_unique<IpMatchOperator>(std::move(set));
}

std::unique_ptr<Operator> createIpMatchFromFile(const OperatorArgs& args, std::string& error) {
  std::string_view name = trimCSpace(args.param);
  if (name.empty()) {
    error = "missing parameter for operator @ipMatchFromFile";
    return nullptr;
  }
  if (name.starts_with("http://") || name.starts_with("https://")) {
    error = "remote address files are not supported: " + std::string(name);
    return nullptr;
  }
  std::string path = resolvePath(args.baseDir, name);
  std::string content;
  if (!readWholeFile(path, content, error)) return nullptr;
  IpSet set;
  std::size_t pos = 0;
  int lineNumber = 0;
  while (pos < content.size()) {
    std::size_t newline = content.find('\n', pos);
    std::size_t end = newline == std::string::npos ? content.size() : newline;
    std::string_view line = trimCSpace(std::string_view(content).substr(pos, end - pos));
    pos = end + 1;
    ++lineNumber;
    if (line.empty() || line.front() == '#') continue;
    std::string why;
    if (!set.add(line, why)) {
      error = path + ":" + std::to_string(lineNumber) + ": " + why;
      return nullptr;
    }
  }
  // An empty list is legal (a deployment may start with no blocked address): it matches nothing.
  set.finish();
  return std::make_unique<IpMatchOperator>(std::move(set));
}

}  // namespace bulwark::waf::operators
