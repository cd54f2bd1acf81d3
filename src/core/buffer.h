// A byte buffer with lazily allocated storage: an idle connection holds no buffer memory at all.
//
// Data lives in [start_, end_) of one heap block. Space is made at the end by compacting, then by
// doubling; release() frees the block when the buffer is empty (called when a connection goes idle).
// The buffer itself enforces no limit: callers stop reading when size() passes their watermark.
#pragma once

#include <cstdlib>
#include <cstring>
#include <string_view>

namespace bulwark {

class Buffer {
 public:
  Buffer() = default;
  ~Buffer() { std::free(data_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  std::size_t size() const noexcept { return end_ - start_; }
  bool empty() const noexcept { return end_ == start_; }
  const char* data() const noexcept { return data_ + start_; }
  std::string_view view() const noexcept { return {data_ + start_, end_ - start_}; }

  void consume(std::size_t n) noexcept {
    start_ += n;
    if (start_ == end_) start_ = end_ = 0;
  }
  void clear() noexcept { start_ = end_ = 0; }

  // Returns a pointer to at least `n` writable bytes after the data; commit() what was written.
  char* reserve(std::size_t n) {
    if (cap_ - end_ >= n) return data_ + end_;
    std::size_t len = size();
    if (start_ > 0 && cap_ - len >= n) {
      std::memmove(data_, data_ + start_, len);
    } else {
      std::size_t cap = cap_ == 0 ? kInitial : cap_;
      while (cap - len < n) cap *= 2;
      char* fresh = static_cast<char*>(std::malloc(cap));
      if (fresh == nullptr) std::abort();  // out of memory: nothing sensible is left to do
      if (len > 0) std::memcpy(fresh, data_ + start_, len);
      std::free(data_);
      data_ = fresh;
      cap_ = cap;
    }
    start_ = 0;
    end_ = len;
    return data_ + end_;
  }
  void commit(std::size_t n) noexcept { end_ += n; }
  std::size_t writable() const noexcept { return cap_ - end_; }

  void append(const char* p, std::size_t n) {
    if (n == 0) return;
    std::memcpy(reserve(n), p, n);
    end_ += n;
  }
  void append(std::string_view s) { append(s.data(), s.size()); }

  // Frees the storage if the buffer is empty.
  void release() noexcept {
    if (empty() && data_ != nullptr) {
      std::free(data_);
      data_ = nullptr;
      cap_ = start_ = end_ = 0;
    }
  }
  std::size_t capacity() const noexcept { return cap_; }

 private:
  static constexpr std::size_t kInitial = 4096;
  char* data_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t start_ = 0;
  std::size_t end_ = 0;
};

}  // namespace bulwark
