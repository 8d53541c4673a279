#include "crc32.hpp"

#include <array>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PYCODEC_HAVE_CLMUL_CRC 1
#endif

namespace pycodec {

namespace {

constexpr uint32_t kPolynomial = 0xEDB88320u;  // reflected

// tables[j][b]: the CRC state after byte b followed by j zero bytes (slicing-by-8).
std::array<std::array<uint32_t, 256>, 8> make_tables() {
    std::array<std::array<uint32_t, 256>, 8> t{};
    for (uint32_t b = 0; b < 256; ++b) {
        uint32_t c = b;
        for (int i = 0; i < 8; ++i) c = (c >> 1) ^ (kPolynomial & (0u - (c & 1u)));
        t[0][b] = c;
    }
    for (int j = 1; j < 8; ++j)
        for (uint32_t b = 0; b < 256; ++b) t[j][b] = (t[j - 1][b] >> 8) ^ t[0][t[j - 1][b] & 0xFFu];
    return t;
}

const std::array<std::array<uint32_t, 256>, 8>& tables() {
    static const auto t = make_tables();
    return t;
}

// The state (pre- and post-inverted by the caller) carried over n bytes.
uint32_t crc_tables(uint32_t c, const uint8_t* p, size_t n) {
    const auto& t = tables();
    for (; n >= 8; n -= 8, p += 8) {
        const uint32_t lo = c ^ (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24);
        c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
            t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    }
    for (; n > 0; --n, ++p) c = (c >> 8) ^ t[0][(c ^ *p) & 0xFF];
    return c;
}

#ifdef PYCODEC_HAVE_CLMUL_CRC
#define PYCODEC_CLMUL __attribute__((target("pclmul,sse4.1")))

PYCODEC_CLMUL inline __m128i load(const uint8_t* q) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)); }

// x's two halves multiplied by k's and added to the next 16 bytes.
PYCODEC_CLMUL inline __m128i fold(__m128i x, __m128i k, __m128i next) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}

// Folding by carry-less multiplication (Gopal et al., "Fast CRC computation for generic
// polynomials using PCLMULQDQ", Intel 2009), with the bit-reflected constants of CRC-32:
// four 128-bit lanes fold 64 bytes per step, then fold into one lane, reduce to 64 and
// then 32 bits (Barrett). n: a multiple of 16, at least 64.
PYCODEC_CLMUL uint32_t crc_clmul(uint32_t c, const uint8_t* p, size_t n) {
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
    const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124);
    const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
    __m128i x1 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(c)));
    __m128i x2 = load(p + 16), x3 = load(p + 32), x4 = load(p + 48);
    p += 64, n -= 64;
    for (; n >= 64; p += 64, n -= 64) {
        x1 = fold(x1, k1k2, load(p));
        x2 = fold(x2, k1k2, load(p + 16));
        x3 = fold(x3, k1k2, load(p + 32));
        x4 = fold(x4, k1k2, load(p + 48));
    }
    x1 = fold(fold(fold(x1, k3k4, x2), k3k4, x3), k3k4, x4);
    for (; n >= 16; p += 16, n -= 16) x1 = fold(x1, k3k4, load(p));
    // 128 -> 64 bits
    const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), _mm_clmulepi64_si128(x1, k3k4, 0x10));
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, low32), k5k0, 0x00), _mm_srli_si128(x1, 4));
    // Barrett reduction to 32 bits
    __m128i x2b = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), poly, 0x10);
    x2b = _mm_clmulepi64_si128(_mm_and_si128(x2b, low32), poly, 0x00);
    return static_cast<uint32_t>(_mm_extract_epi32(_mm_xor_si128(x1, x2b), 1));
}

bool cpu_has_clmul() {
    static const bool has = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    return has;
}
#endif

}  // namespace

uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t n) {
    uint32_t c = ~crc;
#ifdef PYCODEC_HAVE_CLMUL_CRC
    if (n >= 64 && cpu_has_clmul()) {
        const size_t folded = n & ~size_t{15};
        c = crc_clmul(c, data, folded);
        data += folded, n -= folded;
    }
#endif
    return ~crc_tables(c, data, n);
}

}  // namespace pycodec
