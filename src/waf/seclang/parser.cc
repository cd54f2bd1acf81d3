// Layer 1 of the SecLang reader: files -> directives, with Include expanded in place.
#include "waf/seclang/parser.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "waf/seclang/lexer.h"

namespace bulwark::waf::seclang {

namespace {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// apr_fnmatch_test's notion of a wildcard pattern, minus the backslash (an escape we never need in paths).
bool hasWildcard(std::string_view path) { return path.find_first_of("*?[") != std::string_view::npos; }

std::string directoryOf(const std::string& file) {
  const std::size_t slash = file.rfind('/');
  if (slash == std::string::npos) return "";
  return file.substr(0, slash + 1);
}

std::string errnoText(int err) { return std::strerror(err); }

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

class Reader {
 public:
  explicit Reader(const ReadLimits& limits) : limits_(limits) {}

  // Reads a path or glob. `from` is the Include directive that named it, or null at the top level.
  void readPathOrGlob(const std::string& pattern, const SourceLoc* from, bool optional) {
    if (!hasWildcard(pattern)) {
      readPath(pattern, from, optional);
      return;
    }
    glob_t matches{};
    const int rc = ::glob(pattern.c_str(), GLOB_NOSORT | GLOB_MARK, nullptr, &matches);
    std::unique_ptr<glob_t, void (*)(glob_t*)> guard(&matches, ::globfree);
    if (rc == GLOB_NOMATCH || (rc == 0 && matches.gl_pathc == 0)) {
      if (!optional) error(from, pattern, "no file matches '" + pattern + "'");
      return;
    }
    if (rc != 0) {
      error(from, pattern, "cannot expand '" + pattern + "'");
      return;
    }
    // Sorted byte-wise like Apache (strcmp), whatever the locale, so rule order never depends on it.
    std::vector<std::string> paths(matches.gl_pathv, matches.gl_pathv + matches.gl_pathc);
    std::sort(paths.begin(), paths.end());
    for (const std::string& path : paths) {
      if (stopped_) return;
      if (!path.empty() && path.back() == '/') {
        error(from, pattern, "'" + path + "' (matched by '" + pattern + "') is a directory");
        continue;
      }
      readPath(path, from, false);
    }
  }

  // Reads text as the file `name`; relative Includes resolve against `baseDir`.
  void readContents(std::string_view text, const std::string& name, const std::string& baseDir) {
    if (text.size() > limits_.maxFileBytes) {
      result_.errors.push_back(
          {name + ": larger than the limit of " + std::to_string(limits_.maxFileBytes) + " bytes"});
      return;
    }
    LineSplitter lines(text);
    LogicalLine line;
    std::vector<std::string> words;
    std::string wordError;
    while (!stopped_ && lines.next(line)) {
      if (line.danglingContinuation) {
        error(name, line.firstLine, "the file ends with a line continuation ('\\' on the last line)");
        continue;
      }
      if (line.text.empty() || line.text.front() == '#') continue;
      if (line.hasNul) {
        error(name, line.firstLine, "NUL byte in the line");
        continue;
      }
      if (!splitWords(line.text, words, wordError)) {
        error(name, line.firstLine, wordError);
        continue;
      }
      if (equalsIgnoreCase(words[0], "Include") || equalsIgnoreCase(words[0], "IncludeOptional")) {
        include(words, SourceLoc{name, line.firstLine}, baseDir);
        continue;
      }
      if (result_.directives.size() >= limits_.maxDirectives) {
        error(name, line.firstLine,
              "more than " + std::to_string(limits_.maxDirectives) + " directives; stopped reading");
        stopped_ = true;
        return;
      }
      Directive& d = result_.directives.emplace_back();
      d.name = std::move(words[0]);
      d.args.assign(std::make_move_iterator(words.begin() + 1), std::make_move_iterator(words.end()));
      d.loc.file = name;
      d.loc.line = line.firstLine;
    }
  }

  ReadResult take() { return std::move(result_); }

 private:
  void include(const std::vector<std::string>& words, const SourceLoc& loc, const std::string& baseDir) {
    const std::string& directive = words[0];
    if (!limits_.allowInclude) {
      error(loc.file, loc.line, directive + " is disabled here (no file may be read)");
      return;
    }
    if (words.size() != 2 || words[1].empty()) {
      error(loc.file, loc.line, directive + " takes exactly one argument, a path or a glob");
      return;
    }
    if (depth_ >= limits_.maxIncludeDepth) {
      error(loc.file, loc.line,
            directive + " nested more than " + std::to_string(limits_.maxIncludeDepth) + " levels deep");
      return;
    }
    const std::string& path = words[1];
    const std::string resolved = path.front() == '/' ? path : baseDir + path;
    ++depth_;
    readPathOrGlob(resolved, &loc, equalsIgnoreCase(directive, "IncludeOptional"));
    --depth_;
  }

  // `optional`: a missing file is not an error (IncludeOptional).
  void readPath(const std::string& path, const SourceLoc* from, bool optional) {
    if (filesOpened_ >= limits_.maxFiles) {
      error(from, path, "more than " + std::to_string(limits_.maxFiles) + " files read; stopped reading");
      stopped_ = true;
      return;
    }
    ++filesOpened_;
    // O_NONBLOCK: opening a FIFO named by a rule file must not hang the loader; it is refused below.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      if (optional && errno == ENOENT) return;
      error(from, path, "cannot open '" + path + "': " + errnoText(errno));
      return;
    }
    FdCloser closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      error(from, path, "cannot read '" + path + "': " + errnoText(errno));
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      error(from, path, "'" + path + "' is a directory (use a glob such as '" + path + "/*.conf')");
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      error(from, path, "'" + path + "' is not a regular file");
      return;
    }
    if (static_cast<std::size_t>(st.st_size) > limits_.maxFileBytes) {
      error(from, path,
            "'" + path + "' is larger than the limit of " + std::to_string(limits_.maxFileBytes) + " bytes");
      return;
    }
    char canonical[PATH_MAX];
    if (::realpath(path.c_str(), canonical) == nullptr) {
      error(from, path, "cannot resolve '" + path + "': " + errnoText(errno));
      return;
    }
    if (std::find(stack_.begin(), stack_.end(), canonical) != stack_.end()) {
      std::string chain;
      for (const std::string& f : stack_) chain += f + " -> ";
      error(from, path, "Include cycle: " + chain + canonical);
      return;
    }
    std::string contents;
    contents.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (true) {
      if (got == contents.size()) {
        // The file may have grown since fstat; read on, within the limit.
        if (contents.size() >= limits_.maxFileBytes + 1) break;
        contents.resize(std::min(limits_.maxFileBytes + 1, std::max<std::size_t>(4096, contents.size() * 2)));
      }
      const ssize_t n = ::read(fd, contents.data() + got, contents.size() - got);
      if (n < 0) {
        if (errno == EINTR) continue;
        error(from, path, "cannot read '" + path + "': " + errnoText(errno));
        return;
      }
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    contents.resize(got);
    if (contents.size() > limits_.maxFileBytes) {
      error(from, path,
            "'" + path + "' is larger than the limit of " + std::to_string(limits_.maxFileBytes) + " bytes");
      return;
    }
    stack_.emplace_back(canonical);
    readContents(contents, path, directoryOf(path));
    stack_.pop_back();
  }

  void error(const std::string& file, int line, const std::string& message) {
    result_.errors.push_back({file + ":" + std::to_string(line) + ": " + message});
  }

  // "FILE:LINE: message" at the directive `at`, or "PATH: message" for a top-level file.
  void error(const SourceLoc* at, const std::string& path, const std::string& message) {
    if (at != nullptr) {
      error(at->file, at->line, message);
    } else {
      result_.errors.push_back({path + ": " + message});
    }
  }

  const ReadLimits& limits_;
  ReadResult result_;
  std::vector<std::string> stack_;  // canonical paths of the files being read, outermost first
  int depth_ = 0;                   // Include expansions in progress
  std::size_t filesOpened_ = 0;
  bool stopped_ = false;
};

}  // namespace

ReadResult readFile(const std::string& pathOrGlob, const ReadLimits& limits) {
  Reader reader(limits);
  reader.readPathOrGlob(pathOrGlob, nullptr, false);
  return reader.take();
}

ReadResult readText(std::string_view text, const std::string& name, const ReadLimits& limits) {
  Reader reader(limits);
  reader.readContents(text, name, "");
  return reader.take();
}

}  // namespace bulwark::waf::seclang
