// CRC-32 (ISO-HDLC: zlib's, reflected polynomial 0xEDB88320) of the file's sections.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pycodec {

// zlib's crc32(crc, data, n): the CRC of data continued from `crc` (0 to start). Folds 64
// bytes at a time with carry-less multiplies where the CPU has PCLMULQDQ (about 3x zlib's
// table code), else slicing-by-8 tables.
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t n);

}  // namespace pycodec
