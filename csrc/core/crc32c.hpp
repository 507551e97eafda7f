// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the journal's record checksum.
//
// The SSE4.2 crc32 instruction does eight bytes a step where the CPU has it (checked once, at
// first use); elsewhere a byte-wise table gives the same values. The function takes and
// returns the finished CRC, so a message may be fed in pieces:
// crc32c(b, crc32c(a)) == crc32c(a + b), as google-crc32c's extend() and Python's checksum
// module compute it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define PERPEX_CRC32C_HW 1
#endif

namespace perpex {
namespace crc32c_detail {

struct Table {
  std::uint32_t t[256];
  Table() {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
  }
};

inline std::uint32_t soft(std::uint32_t crc, const unsigned char* p, std::size_t n) {
  static const Table table;
  for (std::size_t i = 0; i < n; ++i) crc = table.t[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}

#ifdef PERPEX_CRC32C_HW
__attribute__((target("sse4.2"))) inline std::uint32_t hard(std::uint32_t crc,
                                                            const unsigned char* p,
                                                            std::size_t n) {
  std::uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);  // unaligned reads, little-endian as the instruction expects
    c = _mm_crc32_u64(c, w);
  }
  std::uint32_t c32 = static_cast<std::uint32_t>(c);
  for (; n; --n, ++p) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}

inline bool have_hw() {
  static const bool yes = __builtin_cpu_supports("sse4.2");
  return yes;
}
#endif

}  // namespace crc32c_detail

// The CRC-32C of p[0..n) continued from the finished CRC `crc` (0 to start a message).
inline std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
#ifdef PERPEX_CRC32C_HW
  if (crc32c_detail::have_hw()) return ~crc32c_detail::hard(c, p, n);
#endif
  return ~crc32c_detail::soft(c, p, n);
}

// The software path alone, so tests can compare both on a machine with the instruction.
inline std::uint32_t crc32c_portable(const void* data, std::size_t n, std::uint32_t crc = 0) {
  return ~crc32c_detail::soft(~crc, static_cast<const unsigned char*>(data), n);
}

}  // namespace perpex
