// GeoDatabase: the country of a client address, from a MaxMind DB file (GeoLite2/GeoIP2 Country or City,
// or any database with the same "country" / "registered_country" maps), read through libmaxminddb.
//
// The file is memory-mapped once by open(); lookups only read the mapping, so one GeoDatabase may be
// shared by every worker thread. A reload opens a new GeoDatabase and swaps it in; the old one stays
// valid until its last user drops it (the mapping is released by the destructor).
#pragma once

#include <memory>
#include <string>

#include "shield/ip_address.h"

struct MMDB_s;

namespace bulwark::shield {

class GeoDatabase {
 public:
  // Opens `path` (MMDB_MODE_MMAP). Null, with `error` set to "PATH: reason" (missing file, not a MaxMind
  // DB, corrupt metadata), on failure.
  static std::unique_ptr<GeoDatabase> open(const std::string& path, std::string& error);
  ~GeoDatabase();
  GeoDatabase(const GeoDatabase&) = delete;
  GeoDatabase& operator=(const GeoDatabase&) = delete;

  // The ISO 3166-1 alpha-2 country of `a` (country.iso_code, else registered_country.iso_code) into
  // out[0..1], upper case, no terminator. False, `out` unchanged, if the address is not in the database,
  // the record has no two-letter code, or the database is IPv4-only and `a` is IPv6. IPv4 addresses are
  // found whether the database stores them as IPv4 or inside an IPv6 tree. Thread-safe, no allocation.
  bool country(const IpAddress& a, char out[2]) const noexcept;

  // The database's metadata type, e.g. "GeoLite2-Country" (for the admin status page).
  std::string databaseType() const;

 private:
  GeoDatabase();
  std::unique_ptr<MMDB_s> db_;
};

}  // namespace bulwark::shield
