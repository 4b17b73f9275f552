// Rng: xoshiro256** pseudo-random generator, fast enough to fill hundreds of MiB of blob data
// before a run starts. Not for cryptography. Not thread-safe; one per thread or client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace berth::bench {

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    // SplitMix64 expands the seed into the 256-bit state, as the xoshiro authors recommend.
    for (uint64_t& s : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      s = z ^ (z >> 31);
    }
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }

  void Fill(char* out, size_t n) {
    while (n >= 8) {
      uint64_t v = Next();
      std::memcpy(out, &v, 8);
      out += 8;
      n -= 8;
    }
    if (n > 0) {
      uint64_t v = Next();
      std::memcpy(out, &v, n);
    }
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace berth::bench
