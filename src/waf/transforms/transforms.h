// SecLang transformations (`t:name`), with ModSecurity v2 semantics (the reference engine of CRS).
//
// Each transformation is a pure function of its input. It writes its result to `out` and returns true if
// the result differs from the input (so a chain can skip work and a rule's MATCHED_VAR caching can key on
// it); when it returns false, `out` may be left untouched and the caller keeps using the input. They never
// allocate more than a small constant factor of the input, never fail, and accept arbitrary bytes.
// Lookup is by name, case-insensitive, through one registry table built from a single explicit list.
#pragma once

#include <string>
#include <string_view>

namespace bulwark::waf {

using TransformFn = bool (*)(std::string_view in, std::string& out);

struct TransformInfo {
  std::string_view name;  // canonical spelling, e.g. "urlDecodeUni"
  TransformFn fn;
};

// Returns the transformation called `name` (case-insensitive; aliases such as normalisePath included),
// or nullptr if there is none. "none" is not a transformation (it resets the chain) and returns nullptr.
const TransformInfo* findTransform(std::string_view name) noexcept;

// All registered transformations (for docs and tests).
std::string_view* transformNames(std::size_t& count) noexcept;

}  // namespace bulwark::waf
