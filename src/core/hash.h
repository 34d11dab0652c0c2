// core/hash.h — content hashing (SHA-256) for caches and novelty.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kf::core {

/// Incremental SHA-256. Not thread-safe; one instance per computation.
class Sha256 {
 public:
  Sha256();
  Sha256& Update(std::string_view data);
  /// Adds a length-prefixed field, so ("ab","c") and ("a","bc") hash differently.
  Sha256& Field(std::string_view data);
  std::string HexDigest();  // 64 lowercase hex chars; the object is spent afterwards

 private:
  void Block(const unsigned char* p);
  std::uint32_t h_[8];
  unsigned char buf_[64];
  std::uint64_t total_ = 0;
  std::size_t used_ = 0;
};

std::string Sha256Hex(std::string_view data);

/// 64-bit FNV-1a, for seeds derived from names (not for security or caches).
std::uint64_t Fnv1a64(std::string_view data, std::uint64_t seed = 0xcbf29ce484222325ULL);

}  // namespace kf::core
