// Shared pieces of the native core: limits, error types, byte and bit helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "limits.hpp"

namespace pycodec {


// ------------------------------------------------------------------ CPU dispatch
// The hot encode/decode kernels are compiled a second time for BMI2 (single-uop variable
// shifts), between PYCODEC_BMI2_BEGIN and PYCODEC_BMI2_END, and chosen at run time.
#if defined(__x86_64__) && defined(__GNUC__)
#define PYCODEC_HAVE_BMI2_KERNEL 1
#define PYCODEC_BMI2_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"bmi,bmi2\")") namespace bmi2 {
#define PYCODEC_BMI2_END } _Pragma("GCC pop_options")
#endif

inline bool cpu_has_bmi2() {
#ifdef PYCODEC_HAVE_BMI2_KERNEL
    static const bool has = __builtin_cpu_supports("bmi2");
    return has;
#else
    return false;
#endif
}

// ------------------------------------------------------------------ errors
// Translated by bindings.cpp into pycodec.errors classes.
struct InvalidArgument : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct CorruptStream : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct LimitExceeded : CorruptStream {
    using CorruptStream::CorruptStream;
};
// What was being encoded changed after it was planned or counted (another thread writing
// the array): the output holds garbage but stayed within its buffer. `what`: "symbols",
// "positions", ...
struct DataChanged : std::runtime_error {
    explicit DataChanged(const std::string& what)
        : std::runtime_error("the " + what + " changed while they were being encoded (another thread writing the array?)") {}
};

// ------------------------------------------------------------------ byte order
inline uint64_t load_be64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

inline void store_be64(uint8_t* p, uint64_t v) {
    v = __builtin_bswap64(v);
    std::memcpy(p, &v, 8);
}

// ------------------------------------------------------------------ byte reader
// Bounds-checked cursor over untrusted bytes; every read names what it reads so the
// error says what was expected.
class ByteReader {
  public:
    ByteReader(const uint8_t* data, size_t size) : begin_(data), cur_(data), end_(data + size) {}

    size_t remaining() const { return static_cast<size_t>(end_ - cur_); }
    size_t offset() const { return static_cast<size_t>(cur_ - begin_); }
    const uint8_t* position() const { return cur_; }

    uint8_t u8(const char* what) {
        need(1, what);
        return *cur_++;
    }

    uint16_t u16le(const char* what) {
        need(2, what);
        uint16_t v = static_cast<uint16_t>(cur_[0] | (cur_[1] << 8));
        cur_ += 2;
        return v;
    }

    // Unsigned LEB128, at most 10 bytes, value within 64 bits.
    uint64_t varint(const char* what) {
        uint64_t value = 0;
        for (int i = 0; i < 10; ++i) {
            need(1, what);
            uint8_t byte = *cur_++;
            uint64_t group = byte & 0x7Fu;
            if (i == 9 && group > 1)
                throw CorruptStream(std::string(what) + ": varint overflows 64 bits");
            value |= group << (7 * i);
            if (!(byte & 0x80u)) {
                // minimal encoding only: a last byte of 0 after others adds nothing
                if (i > 0 && byte == 0) throw CorruptStream(std::string(what) + ": varint is not minimal");
                return value;
            }
        }
        throw CorruptStream(std::string(what) + ": varint longer than 10 bytes");
    }

    const uint8_t* take(size_t n, const char* what) {
        need(n, what);
        const uint8_t* p = cur_;
        cur_ += n;
        return p;
    }

  private:
    void need(size_t n, const char* what) const {
        if (remaining() < n)
            throw CorruptStream("truncated stream: need " + std::to_string(n) + " more byte(s) for " +
                                what + ", " + std::to_string(remaining()) + " left");
    }

    const uint8_t* begin_;
    const uint8_t* cur_;
    const uint8_t* end_;
};

// ------------------------------------------------------------------ byte writer
// Writes into a caller-sized buffer; the caller computed an exact bound beforehand.
class ByteWriter {
  public:
    explicit ByteWriter(uint8_t* out) : cur_(out) {}

    void u8(uint8_t v) { *cur_++ = v; }
    void u16le(uint16_t v) {
        *cur_++ = static_cast<uint8_t>(v & 0xFF);
        *cur_++ = static_cast<uint8_t>(v >> 8);
    }
    void varint(uint64_t v) {
        while (v >= 0x80) {
            *cur_++ = static_cast<uint8_t>(v | 0x80);
            v >>= 7;
        }
        *cur_++ = static_cast<uint8_t>(v);
    }
    uint8_t* position() { return cur_; }

  private:
    uint8_t* cur_;
};

inline size_t varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

}  // namespace pycodec
