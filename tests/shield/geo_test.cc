#include "shield/geo.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace bulwark::shield {
namespace {

// tests/shield/data/geo-test.mmdb, written by make_geo_mmdb.pl with its default networks.
std::string dataPath(const std::string& name) {
  const std::string here = __FILE__;
  return here.substr(0, here.rfind('/')) + "/data/" + name;
}

class GeoTestDatabase : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    geo_ = GeoDatabase::open(dataPath("geo-test.mmdb"), error);
    ASSERT_NE(geo_, nullptr) << error;
  }
  std::string countryOf(const char* text) const;
  std::unique_ptr<GeoDatabase> geo_;
};

std::string GeoTestDatabase::countryOf(const char* text) const {
  IpAddress a;
  EXPECT_TRUE(IpAddress::parse(text, a)) << text;
  char code[2] = {'?', '?'};
  if (!geo_->country(a, code)) return code[0] == '?' && code[1] == '?' ? "none" : "changed on failure";
  return std::string(code, 2);
}

TEST_F(GeoTestDatabase, FindsCountriesOfIpv4Addresses) {
  EXPECT_EQ(countryOf("127.0.0.2"), "FR");
  EXPECT_EQ(countryOf("127.0.0.3"), "US");
  EXPECT_EQ(countryOf("127.0.0.1"), "ZZ");  // the enclosing /8
  EXPECT_EQ(countryOf("127.255.255.255"), "ZZ");
  EXPECT_EQ(countryOf("10.20.30.40"), "GB");
}

TEST_F(GeoTestDatabase, MappedIpv6FormIsTheIpv4Address) { EXPECT_EQ(countryOf("::ffff:127.0.0.2"), "FR"); }

TEST_F(GeoTestDatabase, FindsCountriesOfIpv6Addresses) {
  EXPECT_EQ(countryOf("::1"), "DE");
  EXPECT_EQ(countryOf("2001:db8:ffff::1"), "NL");
  EXPECT_EQ(countryOf("2001:db8:1::1"), "BE");  // the more specific /48
}

TEST_F(GeoTestDatabase, FallsBackToRegisteredCountry) { EXPECT_EQ(countryOf("127.0.0.4"), "JP"); }

TEST_F(GeoTestDatabase, UnknownAddressHasNoCountry) {
  EXPECT_EQ(countryOf("192.0.2.1"), "none");
  EXPECT_EQ(countryOf("11.0.0.1"), "none");
  EXPECT_EQ(countryOf("::2"), "none");
  EXPECT_EQ(countryOf("2001:db9::1"), "none");
}

TEST_F(GeoTestDatabase, ReportsItsType) { EXPECT_EQ(geo_->databaseType(), "Bulwark-Test-Country"); }

TEST(GeoDatabase, MissingFileIsAClearError) {
  std::string error;
  EXPECT_EQ(GeoDatabase::open("/nonexistent/geo.mmdb", error), nullptr);
  EXPECT_EQ(error, "/nonexistent/geo.mmdb: cannot open: No such file or directory");
}

TEST(GeoDatabase, FileThatIsNotAnMmdbIsAClearError) {
  std::string error;
  const std::string notMmdb = dataPath("make_geo_mmdb.pl");
  EXPECT_EQ(GeoDatabase::open(notMmdb, error), nullptr);
  EXPECT_EQ(error.rfind(notMmdb + ": not a MaxMind DB file (", 0), 0u) << error;
}

TEST(GeoDatabase, EmptyFileIsAClearError) {
  char name[] = "/tmp/bulwark-geo-XXXXXX";
  const int fd = mkstemp(name);
  ASSERT_GE(fd, 0);
  close(fd);
  std::string error;
  EXPECT_EQ(GeoDatabase::open(name, error), nullptr);
  EXPECT_EQ(error.rfind(std::string(name) + ": ", 0), 0u) << error;
  std::remove(name);
}

TEST_F(GeoTestDatabase, LookupsFromManyThreadsAgree) {
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (std::size_t t = 0; t < wrong.size(); ++t) {
    threads.emplace_back([&, t] {
      IpAddress v4;
      IpAddress v6;
      IpAddress::parse("127.0.0.3", v4);
      IpAddress::parse("2001:db8:1::9", v6);
      for (int i = 0; i < 2000; ++i) {
        char a[2];
        char b[2];
        if (!geo_->country(v4, a) || a[0] != 'U' || a[1] != 'S') ++wrong[t];
        if (!geo_->country(v6, b) || b[0] != 'B' || b[1] != 'E') ++wrong[t];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int w : wrong) EXPECT_EQ(w, 0);
}

}  // namespace
}  // namespace bulwark::shield
