#include "waf/operators/phrase_matcher.h"

#include <deque>

#include "waf/operators/util.h"

namespace bulwark::waf::operators {

bool PhraseMatcher::build(const std::vector<std::string>& phrases) {
  phrases_.clear();
  byteClass_.fill(0);
  // Class 0 is every byte that occurs in no phrase; the others get one class per lower-cased byte.
  classCount_ = 1;
  for (const std::string& phrase : phrases) {
    for (char ch : phrase) {
      unsigned char c = asciiLower(static_cast<unsigned char>(ch));
      if (byteClass_[c] == 0) byteClass_[c] = static_cast<std::uint8_t>(classCount_++);
    }
  }
  for (int c = 'A'; c <= 'Z'; ++c) byteClass_[c] = byteClass_[asciiLower(static_cast<unsigned char>(c))];

  // Trie first: in next_, 0 means "no edge" (no edge of the trie leads back to the root, state 0).
  next_.assign(classCount_, 0);
  output_.assign(1, -1);
  for (const std::string& phrase : phrases) {
    if (phrase.empty()) continue;
    std::uint32_t state = 0;
    for (char ch : phrase) {
      std::uint32_t cls = byteClass_[static_cast<unsigned char>(ch)];
      std::uint32_t target = next_[state * classCount_ + cls];
      if (target == 0) {
        if (next_.size() + classCount_ > kMaxTableEntries) {
          phrases_.clear();
          next_.clear();
          output_.clear();
          return false;
        }
        target = static_cast<std::uint32_t>(output_.size());
        output_.push_back(-1);
        next_.resize(next_.size() + classCount_, 0);
        next_[state * classCount_ + cls] = target;
      }
      state = target;
    }
    if (output_[state] < 0) {
      output_[state] = static_cast<std::int32_t>(phrases_.size());
      phrases_.push_back(phrase);
    }
  }

  // Breadth-first: fill every missing edge from the failure state, whose row is already complete, and
  // inherit the failure state's output when a state ends no phrase itself (its longest suffix that does).
  std::vector<std::uint32_t> failure(output_.size(), 0);
  std::deque<std::uint32_t> queue;
  for (std::uint32_t cls = 0; cls < classCount_; ++cls) {
    std::uint32_t child = next_[cls];
    if (child != 0) queue.push_back(child);
  }
  while (!queue.empty()) {
    std::uint32_t state = queue.front();
    queue.pop_front();
    std::uint32_t fail = failure[state];
    if (output_[state] < 0) output_[state] = output_[fail];
    for (std::uint32_t cls = 0; cls < classCount_; ++cls) {
      std::uint32_t& edge = next_[state * classCount_ + cls];
      if (edge != 0) {
        failure[edge] = next_[fail * classCount_ + cls];
        queue.push_back(edge);
      } else {
        edge = next_[fail * classCount_ + cls];
      }
    }
  }

  // Renumber: states without output first (the root stays 0, it never reports: phrases are not empty),
  // then states with output; store targets as row offsets (state * classCount_).
  const std::size_t states = output_.size();
  std::vector<std::uint32_t> renamed(states);
  std::uint32_t nextId = 0;
  for (std::size_t s = 0; s < states; ++s) {
    if (output_[s] < 0) renamed[s] = nextId++;
  }
  firstOutputRow_ = nextId * classCount_;
  for (std::size_t s = 0; s < states; ++s) {
    if (output_[s] >= 0) renamed[s] = nextId++;
  }
  std::vector<std::uint32_t> table(next_.size());
  std::vector<std::int32_t> output(states);
  for (std::size_t s = 0; s < states; ++s) {
    output[renamed[s]] = output_[s];
    for (std::uint32_t cls = 0; cls < classCount_; ++cls) {
      table[renamed[s] * classCount_ + cls] = renamed[next_[s * classCount_ + cls]] * classCount_;
    }
  }
  next_ = std::move(table);
  output_ = std::move(output);
  return true;
}

const std::string* PhraseMatcher::find(std::string_view input) const noexcept {
  if (phrases_.empty()) return nullptr;
  // Rows hold premultiplied targets and states that report a phrase are numbered last, so each byte is
  // one dependent load plus a compare, with no multiply and no second table.
  const std::uint32_t* next = next_.data();
  const std::uint32_t firstOutput = firstOutputRow_;
  std::uint32_t row = 0;
  for (char ch : input) {
    row = next[row + byteClass_[static_cast<unsigned char>(ch)]];
    if (row >= firstOutput) return &phrases_[static_cast<std::size_t>(output_[row / classCount_])];
  }
  return nullptr;
}

std::size_t PhraseMatcher::memoryBytes() const noexcept {
  std::size_t bytes = next_.capacity() * sizeof(std::uint32_t) + output_.capacity() * sizeof(std::int32_t);
  for (const std::string& p : phrases_) bytes += p.capacity();
  return bytes;
}

}  // namespace bulwark::waf::operators
