// The on-disk cache of compiled code (host objects, OpenCL program binaries), shared by the
// LLVM back end and the OpenCL device. No LLVM or OpenCL headers: the runtime includes it.
//
// An entry is one file, <dir>/<file_name>, written whole under a temporary name and renamed.
// Its header records the entry's identity (what it was compiled from, or a strong hash of it),
// the payload's size and a checksum, so a truncated, corrupted or foreign file is reported as
// damaged and never handed to a linker or a driver.
#pragma once

#include <string>
#include <string_view>

namespace kiln::codegen {

// Where compiled code is kept: $KILN_CACHE, else $XDG_CACHE_HOME/kiln/kernels, else
// ~/.cache/kiln/kernels. Empty when caching is off (KILN_CACHE=off, 0 or empty).
std::string kernel_cache_dir();

enum class CacheLookup {
  Missing,  // no file: compile, then store
  Damaged,  // a file that fails the header checks: compile, then overwrite it
  Hit,
};

struct CacheEntry {
  CacheLookup status = CacheLookup::Missing;
  std::string payload;  // set for a hit
};

// The entry `file_name` in `dir`, a hit only when its identity equals `identity` and its
// payload is whole (size and checksum).
CacheEntry read_cache_entry(const std::string& dir, const std::string& file_name, std::string_view identity);

// Best effort: a cache that cannot be written only costs the next run a compile.
void write_cache_entry(const std::string& dir, const std::string& file_name, std::string_view identity,
                       std::string_view payload);

// 64-bit FNV-1a of `bytes` as 16 hex digits: a file name for an entry whose identity is
// stored in full (a collision then reads as a damaged entry, never as a wrong hit).
std::string fnv1a_hex(std::string_view bytes);

}  // namespace kiln::codegen
