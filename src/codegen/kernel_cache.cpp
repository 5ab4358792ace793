#include "codegen/kernel_cache.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <unistd.h>

namespace kiln::codegen {

namespace {

// Bump the version when the layout changes: older entries then read as damaged and are rebuilt.
constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'K', 'C', '1', '\n'};

// The file: magic, then these three numbers (host byte order: the cache is this host's), then
// the identity and the payload bytes. Nothing follows the payload.
struct Header {
  uint64_t identity_bytes;
  uint64_t payload_bytes;
  uint64_t payload_checksum;  // fnv1a(payload)
};
constexpr size_t kHeaderBytes = sizeof kMagic + sizeof(Header);

uint64_t fnv1a(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const char c : bytes) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

}  // namespace

std::string kernel_cache_dir() {
  if (const char* dir = std::getenv("KILN_CACHE")) {
    const std::string value = dir;
    if (value == "off" || value == "0" || value.empty()) return {};
    return value;
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/kiln/kernels";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/kiln/kernels";
  return {};
}

std::string fnv1a_hex(std::string_view bytes) { return fmt::format("{:016x}", fnv1a(bytes)); }

CacheEntry read_cache_entry(const std::string& dir, const std::string& file_name, std::string_view identity) {
  std::ifstream file(std::filesystem::path(dir) / file_name, std::ios::binary);
  if (!file) return {};
  std::ostringstream stream;
  stream << file.rdbuf();
  const std::string bytes = std::move(stream).str();

  CacheEntry damaged{CacheLookup::Damaged, {}};
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return damaged;
  Header header;
  std::memcpy(&header, bytes.data() + sizeof kMagic, sizeof header);
  const uint64_t body = bytes.size() - kHeaderBytes;
  if (header.identity_bytes > body || header.payload_bytes != body - header.identity_bytes) return damaged;
  const std::string_view stored_identity(bytes.data() + kHeaderBytes, header.identity_bytes);
  if (stored_identity != identity) return damaged;
  const std::string_view payload(bytes.data() + kHeaderBytes + header.identity_bytes, header.payload_bytes);
  if (fnv1a(payload) != header.payload_checksum) return damaged;
  return {CacheLookup::Hit, std::string(payload)};
}

// Written to a temporary name and renamed, so a concurrent reader never sees half a file.
void write_cache_entry(const std::string& dir, const std::string& file_name, std::string_view identity,
                       std::string_view payload) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return;
  const std::filesystem::path final_path = std::filesystem::path(dir) / file_name;
  // mkstemp picks a name no other writer (another process, another machine sharing the
  // folder) holds.
  std::string temporary = final_path.string() + ".tmpXXXXXX";
  const int fd = ::mkstemp(temporary.data());
  if (fd < 0) return;
  const Header header{identity.size(), payload.size(), fnv1a(payload)};
  std::string bytes(kMagic, sizeof kMagic);
  bytes.append(reinterpret_cast<const char*>(&header), sizeof header);
  bytes.append(identity);
  bytes.append(payload);
  bool written = true;
  for (size_t done = 0; written && done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    written = n > 0;
    if (written) done += static_cast<size_t>(n);
  }
  written = ::close(fd) == 0 && written;
  if (written) std::filesystem::rename(temporary, final_path, error);
  if (!written || error) std::filesystem::remove(temporary, error);
}

}  // namespace kiln::codegen
