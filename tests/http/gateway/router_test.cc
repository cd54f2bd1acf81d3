#include "http/router.h"

#include <gtest/gtest.h>

namespace bulwark::http {
namespace {

Route route(std::vector<std::string> hosts, std::string prefix) {
  Route r;
  r.match.hosts = std::move(hosts);
  r.match.prefix = std::move(prefix);
  return r;
}

TEST(RouterTest, FirstMatchInConfigOrderWins) {
  Router r({route({}, "/api/"), route({}, "/")});
  EXPECT_EQ(r.match("x", "/api/v1"), 0);
  EXPECT_EQ(r.match("x", "/apix"), 1);
  EXPECT_EQ(r.match("x", "/"), 1);
}

TEST(RouterTest, MatchesExactHostCaseInsensitiveIgnoringPort) {
  Router r({route({"api.example.com"}, "/"), route({}, "/fallback")});
  EXPECT_EQ(r.match("API.Example.COM:8443", "/x"), 0);
  EXPECT_EQ(r.match("api.example.com.", "/x"), 0);
  EXPECT_EQ(r.match("other.example.com", "/x"), -1);
  EXPECT_EQ(r.match("other.example.com", "/fallback/1"), 1);
}

TEST(RouterTest, WildcardMatchesSubdomainsOnly) {
  Router r({route({"*.example.com"}, "/")});
  EXPECT_EQ(r.match("a.example.com", "/"), 0);
  EXPECT_EQ(r.match("a.b.example.com", "/"), 0);
  EXPECT_EQ(r.match("example.com", "/"), -1);
  EXPECT_EQ(r.match("badexample.com", "/"), -1);
}

TEST(RouterTest, NoRouteGivesMinusOne) {
  Router r({route({}, "/only")});
  EXPECT_EQ(r.match("h", "/other"), -1);
}

TEST(RouterTest, HostWithoutPortHandlesIpv6) {
  EXPECT_EQ(Router::hostWithoutPort("[::1]:8080"), "[::1]");
  EXPECT_EQ(Router::hostWithoutPort("example.com:80"), "example.com");
  EXPECT_EQ(Router::hostWithoutPort("example.com"), "example.com");
}

}  // namespace
}  // namespace bulwark::http
