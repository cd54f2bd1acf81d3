// Private: case-insensitive (ASCII) multi-phrase search for @pm and @pmFromFile.
//
// Aho-Corasick compiled to a dense automaton over byte classes (bytes that occur in no phrase share one
// class), so a scan is one table load per input byte, with no branches on the phrase count. Immutable after
// build(); find() is thread-safe and does not allocate.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::waf::operators {

class PhraseMatcher {
 public:
  // At most this many table entries (4 bytes each): the automaton for a phrase list is bounded in memory.
  static constexpr std::size_t kMaxTableEntries = std::size_t{1} << 28;

  // Empty phrases are ignored; duplicates (also differing only in case) keep the first spelling.
  // False if the automaton would exceed kMaxTableEntries (the matcher is then empty).
  bool build(const std::vector<std::string>& phrases);

  // The phrase (as written in the list) of the first occurrence in `input`, by end position; when several
  // phrases end there, the longest. nullptr if none occurs.
  const std::string* find(std::string_view input) const noexcept;

  std::size_t phraseCount() const noexcept { return phrases_.size(); }
  const std::vector<std::string>& phrases() const noexcept { return phrases_; }
  std::size_t stateCount() const noexcept { return output_.size(); }
  std::size_t memoryBytes() const noexcept;

 private:
  std::vector<std::string> phrases_;
  std::array<std::uint8_t, 256> byteClass_{};
  std::uint32_t classCount_ = 1;
  // After build(): next_[row + class] is the row (state * classCount_) of the next state; states with
  // output have rows >= firstOutputRow_. output_[state] is the phrase index it reports, or -1.
  std::vector<std::uint32_t> next_;
  std::vector<std::int32_t> output_;
  std::uint32_t firstOutputRow_ = 0;
};

}  // namespace bulwark::waf::operators
