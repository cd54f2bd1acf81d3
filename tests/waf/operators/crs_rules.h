// Test helper: a deliberately small scanner of the installed OWASP CRS rule files, enough to pull out
// each SecRule's operator and parameter (it is not the SecLang parser). It joins lines ending in '\',
// skips comments, splits arguments on whitespace and unquotes them the way Apache (and so ModSecurity
// v2) does: inside quotes, \\ becomes \ and \" becomes ".
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace bulwark::waf::testing {

inline const std::string kCrsRulesDir = "/usr/share/modsecurity-crs/rules";

struct CrsOperatorUse {
  std::string file;  // base name
  int line = 0;      // where the SecRule starts
  std::string id;    // "942190", or "" for a chained rule without id
  std::string op;    // operator name as written, "rx" when the rule names none
  std::string param;
};

inline std::vector<std::string> splitConfigWords(const std::string& line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= line.size()) break;
    std::string word;
    char quote = line[i];
    if (quote == '"' || quote == '\'') {
      ++i;
      while (i < line.size() && line[i] != quote) {
        if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == quote || line[i + 1] == '\\')) ++i;
        word.push_back(line[i++]);
      }
      ++i;  // closing quote
    } else {
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) word.push_back(line[i++]);
    }
    words.push_back(std::move(word));
  }
  return words;
}

inline std::vector<CrsOperatorUse> scanCrsOperators(const std::string& dir = kCrsRulesDir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".conf") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<CrsOperatorUse> uses;
  for (const auto& path : files) {
    std::ifstream in(path);
    std::string physical;
    std::string logical;
    int number = 0;
    int start = 0;
    while (std::getline(in, physical)) {
      ++number;
      if (logical.empty()) start = number;
      if (!physical.empty() && physical.back() == '\\') {
        physical.pop_back();
        logical += physical;
        continue;
      }
      logical += physical;
      std::string directive = std::move(logical);
      logical.clear();
      std::size_t first = directive.find_first_not_of(" \t");
      if (first == std::string::npos || directive[first] == '#') continue;
      std::vector<std::string> words = splitConfigWords(directive);
      if (words.size() < 3 || words[0] != "SecRule") continue;
      CrsOperatorUse use;
      use.file = path.filename().string();
      use.line = start;
      std::string op = words[2];
      std::size_t p = op.find_first_not_of(" \t");
      op = p == std::string::npos ? "" : op.substr(p);
      if (!op.empty() && op[0] == '!') op.erase(0, 1);
      if (!op.empty() && op[0] == '@') {
        std::size_t end = 1;
        while (end < op.size() && !std::isspace(static_cast<unsigned char>(op[end]))) ++end;
        use.op = op.substr(1, end - 1);
        while (end < op.size() && std::isspace(static_cast<unsigned char>(op[end]))) ++end;
        use.param = op.substr(end);
      } else {
        use.op = "rx";
        use.param = op;
      }
      if (words.size() >= 4) {
        std::size_t id = words[3].find("id:");
        if (id != std::string::npos) {
          std::size_t end = id + 3;
          while (end < words[3].size() && std::isdigit(static_cast<unsigned char>(words[3][end]))) ++end;
          use.id = words[3].substr(id + 3, end - id - 3);
        }
      }
      uses.push_back(std::move(use));
    }
  }
  return uses;
}

}  // namespace bulwark::waf::testing
