#include "shield/geo.h"

#include <maxminddb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

namespace bulwark::shield {

GeoDatabase::GeoDatabase() : db_(std::make_unique<MMDB_s>()) {}

GeoDatabase::~GeoDatabase() {
  if (db_) MMDB_close(db_.get());
}

std::unique_ptr<GeoDatabase> GeoDatabase::open(const std::string& path, std::string& error) {
  std::unique_ptr<GeoDatabase> geo(new GeoDatabase());
  const int status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, geo->db_.get());
  if (status != MMDB_SUCCESS) {
    const int err = errno;
    error = path + ": ";
    if (status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR) {
      error += std::string("cannot open: ") + std::strerror(err);
    } else {
      error += std::string("not a MaxMind DB file (") + MMDB_strerror(status) + ")";
    }
    // MMDB_open frees what it allocated on failure; the destructor must not close it again.
    geo->db_.reset();
    return nullptr;
  }
  return geo;
}

namespace {

// Reads the two-letter code at `path` under `entry`; false if absent or not a 2-byte string.
bool isoCodeAt(MMDB_entry_s* entry, const char* const* path, char out[2]) noexcept {
  MMDB_entry_data_s data;
  if (MMDB_aget_value(entry, &data, path) != MMDB_SUCCESS || !data.has_data ||
      data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size != 2) {
    return false;
  }
  for (int i = 0; i < 2; ++i) {
    const char c = data.utf8_string[i];
    if (c < 'A' || c > 'Z') return false;
  }
  out[0] = data.utf8_string[0];
  out[1] = data.utf8_string[1];
  return true;
}

}  // namespace

bool GeoDatabase::country(const IpAddress& a, char out[2]) const noexcept {
  if (!db_) return false;
  sockaddr_storage storage{};
  if (a.isV4()) {
    // As AF_INET, libmaxminddb starts from the IPv4 subtree of an IPv6 database (::a.b.c.d), where
    // MaxMind and the Perl writer keep IPv4 data.
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    std::memcpy(&in->sin_addr, a.bytes().data() + 12, 4);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    std::memcpy(&in6->sin6_addr, a.bytes().data(), 16);
  }
  int mmdbError = MMDB_SUCCESS;
  MMDB_lookup_result_s result =
      MMDB_lookup_sockaddr(db_.get(), reinterpret_cast<const sockaddr*>(&storage), &mmdbError);
  if (mmdbError != MMDB_SUCCESS || !result.found_entry) return false;
  static constexpr const char* kCountry[] = {"country", "iso_code", nullptr};
  static constexpr const char* kRegistered[] = {"registered_country", "iso_code", nullptr};
  return isoCodeAt(&result.entry, kCountry, out) || isoCodeAt(&result.entry, kRegistered, out);
}

std::string GeoDatabase::databaseType() const {
  return db_ && db_->metadata.database_type != nullptr ? db_->metadata.database_type : "";
}

}  // namespace bulwark::shield
