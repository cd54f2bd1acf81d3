// normalizePath, normalizePathWin: v2's in-place path normaliser, reproduced decision for decision
// because its quirks decide what rules see:
//   - "//" collapses to "/"; a "." segment is dropped; ".." drops itself and the segment before it.
//   - A relative path keeps the ".." it cannot resolve ("../a" stays), an absolute one stops at "/".
//   - A trailing slash is kept only if the input had one.
//   - v2 recognises a back-reference by the segment's last two bytes, so any segment ending in ".."
//     ("a..", "x/ab..") is treated like "..": it deletes itself (and, for a bare "..", its parent).
// normalizePathWin reads a backslash as a slash, but only where v2 converts it: v2 rewrites the byte it
// stands on and the next one, and then skips over a run of separators without rewriting them, so the last
// separator of a run of three or more is copied as written: a/\\b (a slash, two backslashes) becomes
// a\b, and that backslash no longer counts as a separator afterwards.
#include <algorithm>
#include <cstddef>

#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

constexpr ByteTable kPathTrigger = makeByteSet("/.");
constexpr ByteTable kWinPathTrigger = makeByteSet("/.\\");

class PathNormalizer {
 public:
  PathNormalizer(std::string_view in, bool win) : in_(in), win_(win) {}

  // Writes the normalised path to `out` (in_ is non-empty).
  void run(OutputCursor& out) {
    const std::size_t end = in_.size() - 1;
    const bool relative = at(0) != '/';
    const bool trailingSlash = at(end) == '/';
    bool hitRoot = false;  // no segment is left to remove: further ".." in a relative path are kept
    std::size_t i = 0;
    while (i <= end) {
      const std::size_t step = i;  // v2 has converted in_[step] and in_[step + 1], nothing further yet
      const bool last = i == end;
      if (last || at(i + 1) == '/') {
        // in_[i] ends a segment: decide whether it is ".", ".." or a regular name.
        const char c = at(i);
        if (c == '/' && !last) {
          // An empty segment ("//"): the copy below collapses the run of slashes.
        } else if (c == '.') {
          if (!out.empty() && out.back() == '.') {
            if (relative && (hitRoot || out.size() <= 2)) {
              hitRoot = true;  // nothing left to remove: keep the ".." as written
            } else {
              // Back-reference: rewind over its two dots and the byte before them, then to the slash that
              // starts that segment (it goes too; the next slash replaces it), but never above the root.
              std::ptrdiff_t keep = static_cast<std::ptrdiff_t>(out.size()) - 3;
              while (keep > 0 && out[static_cast<std::size_t>(keep)] != '/') --keep;
              if (keep <= 0) {
                hitRoot = true;
                keep = (!relative && last) ? 1 : 0;
              }
              out.truncate(static_cast<std::size_t>(keep));
              if (last) break;
              ++i;
            }
          } else if (out.empty()) {
            if (last) break;  // "./" at the start of a relative path
            ++i;
          } else if (out.back() == '/') {
            if (last) break;  // "/." at the end: the slash goes with the trailing-slash rule below
            out.popBack();
            ++i;
          }
        } else if (!out.empty()) {
          hitRoot = false;
        }
      }
      if (at(i) == '/') {
        while (i < end && at(i + 1) == '/') ++i;
        if (relative && out.empty()) {
          ++i;  // a relative path never starts with a slash
          continue;
        }
      }
      out.put(i > step + 1 ? in_[i] : at(i));
      ++i;
    }
    if (!trailingSlash && !out.empty() && out.back() == '/') out.popBack();
  }

 private:
  char at(std::size_t i) const { return (win_ && in_[i] == '\\') ? '/' : in_[i]; }

  std::string_view in_;
  bool win_;
};

bool normalize(std::string_view in, std::string& out, bool win) {
  if (findFirstOf(in, win ? kWinPathTrigger : kPathTrigger) == in.size()) return false;
  {
    OutputCursor cursor(in, out, 0, in.size());  // the result is never longer than the path
    PathNormalizer(in, win).run(cursor);
  }
  return out != in;
}

}  // namespace

bool normalizePath(std::string_view in, std::string& out) { return normalize(in, out, false); }

bool normalizePathWin(std::string_view in, std::string& out) { return normalize(in, out, true); }

}  // namespace bulwark::waf::transforms
