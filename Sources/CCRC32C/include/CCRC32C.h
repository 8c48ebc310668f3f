#ifndef PGREFLEX_CCRC32C_H
#define PGREFLEX_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has a CRC-32C instruction (x86-64 SSE4.2, ARMv8 CRC), else 0. Checked once.
int pgreflex_crc32c_hardware_available(void);

/// CRC-32C of `length` bytes, continuing from `crc` (the inverted running value, not the
/// finished checksum). Only call it when `pgreflex_crc32c_hardware_available()` is 1.
uint32_t pgreflex_crc32c_hardware(uint32_t crc, const void *bytes, size_t length);

#endif
