// libFuzzer target for the SecLang transformations (src/waf/transforms/).
//
// Every registered transformation runs on the whole input; then a chain of up to eight transformations,
// picked by the input's first bytes, runs on the rest, alternating two buffers as the rule engine does.
// Besides the sanitizers, it checks the contract of transforms.h: "changed" is true exactly when the
// output differs from the input, and the output stays within a small multiple of the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "waf/transforms/transforms.h"

namespace {

using bulwark::waf::findTransform;
using bulwark::waf::TransformInfo;
using bulwark::waf::transformNames;

constexpr std::string_view kStale = "\x01stale output\xfe";
constexpr std::size_t kMaxChain = 8;

void check(bool condition) {
  if (!condition) std::abort();
}

// Runs one transformation with `out` holding stale bytes; returns the value the engine would use next.
std::string_view runChecked(const TransformInfo& info, std::string_view in, std::string& out) {
  out.assign(kStale);
  const bool changed = info.fn(in, out);
  if (changed) {
    check(out != in);
  } else {
    check(out == kStale || out == in);
  }
  const std::string_view result = changed ? std::string_view(out) : in;
  check(result.size() <= 4 * in.size() + 32);
  return result;
}

// Every registered transformation, resolved once through the public lookup.
const std::vector<const TransformInfo*>& allTransforms() {
  static const std::vector<const TransformInfo*> all = [] {
    std::size_t count = 0;
    const std::string_view* names = transformNames(count);
    std::vector<const TransformInfo*> infos;
    for (std::size_t i = 0; i < count; ++i) {
      infos.push_back(findTransform(names[i]));
      check(infos.back() != nullptr);
    }
    check(!infos.empty());
    return infos;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::vector<const TransformInfo*>& transforms = allTransforms();

  std::string out;
  for (const TransformInfo* info : transforms) runChecked(*info, input, out);

  if (size == 0) return 0;
  const std::size_t chainLength = 1 + data[0] % kMaxChain;
  if (size < 1 + chainLength) return 0;
  std::string_view current = input.substr(1 + chainLength);
  std::string buffers[2];
  for (std::size_t step = 0; step < chainLength; ++step) {
    const TransformInfo* info = transforms[data[1 + step] % transforms.size()];
    // Write into the buffer `current` does not view: a step that reports no change leaves `current` where
    // it was, so strict alternation could make a later step clear its own input.
    std::string& target = current.data() == buffers[0].data() ? buffers[1] : buffers[0];
    current = runChecked(*info, current, target);
  }
  return 0;
}
