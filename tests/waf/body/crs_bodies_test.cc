// Every multipart, JSON and XML body the OWASP CRS 3.3.4 regression tests send (extracted into
// tests/data/waf/body/crs_bodies.json by extract_crs_bodies.py), through the processors; and, for a few,
// the values the rule under test has to see.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "waf/body/body.h"

namespace bulwark::waf::body {
namespace {

struct CrsBody {
  std::string kind;
  std::string contentType;
  std::string body;
};

const std::map<std::string, CrsBody>& crsBodies() {
  static const std::map<std::string, CrsBody> bodies = [] {
    std::map<std::string, CrsBody> out;
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.load(BULWARK_TEST_DATA "/waf/body/crs_bodies.json");
    for (simdjson::dom::element c : doc["cases"].get_array()) {
      out.emplace(std::string(c["title"].get_string().value()),
                  CrsBody{std::string(c["kind"].get_string().value()),
                          std::string(c["contentType"].get_string().value()),
                          std::string(c["body"].get_string().value())});
    }
    return out;
  }();
  return bodies;
}

const CrsBody& crsBody(const std::string& title) {
  auto it = crsBodies().find(title);
  if (it == crsBodies().end()) throw std::runtime_error("no CRS body " + title);
  return it->second;
}

MultipartResult multipart(const std::string& title) {
  const CrsBody& b = crsBody(title);
  MultipartResult r;
  parseMultipart(b.contentType, b.body, Limits{}, r);
  return r;
}

JsonResult json(const std::string& title) {
  JsonResult r;
  parseJson(crsBody(title).body, Limits{}, r);
  return r;
}

XmlResult xml(const std::string& title) {
  XmlResult r;
  parseXml(crsBody(title).body, Limits{}, r);
  return r;
}

bool anyContains(const std::vector<std::string>& values, std::string_view needle) {
  return std::any_of(values.begin(), values.end(),
                     [&](const std::string& v) { return v.find(needle) != std::string::npos; });
}

bool hasPair(const Args& args, const std::string& name, const std::string& value) {
  return std::find(args.begin(), args.end(), std::pair{name, value}) != args.end();
}

TEST(CrsBodies, AllAreExtracted) {
  std::map<std::string, int> perKind;
  for (const auto& [title, b] : crsBodies()) ++perKind[b.kind];
  EXPECT_EQ(perKind["multipart"], 67);
  EXPECT_EQ(perKind["json"], 188);
  EXPECT_EQ(perKind["xml"], 319);
}

TEST(CrsBodies, OnlyTheDeliberatelyBrokenOnesFailToParse) {
  // CRS sends "test" as JSON and as XML, and multipart bodies under other multipart types, on purpose.
  const std::set<std::string> broken = {"920420-9",  "920420-10", "920420-5",  "920420-6", "920420-12",
                                        "920420-13", "920470-10", "920470-11", "920470-13"};
  for (const auto& [title, b] : crsBodies()) {
    SCOPED_TRACE(title + " (" + b.kind + ", " + b.contentType + ")");
    bool error = false;
    std::string message;
    if (b.kind == "multipart") {
      MultipartResult r = multipart(title);
      error = r.error;
      message = r.errorMsg;
    } else if (b.kind == "json") {
      JsonResult r = json(title);
      error = r.error;
      message = r.errorMsg;
      if (!r.error && !b.body.empty()) {
        EXPECT_FALSE(r.args.empty());
      }
    } else {
      XmlResult r = xml(title);
      error = r.error;
      message = r.errorMsg;
      if (!r.error && !b.body.empty()) {
        EXPECT_EQ(r.values.size(), 1u);
      }
    }
    EXPECT_EQ(error, broken.count(title) == 1) << message;
  }
}

TEST(CrsBodies, FileNameAndFieldNameReachFilesAndFilesNames) {
  // 920120 looks for ['";=] in FILES_NAMES and FILES.
  MultipartResult r = multipart("920120-1");
  ASSERT_EQ(r.files.size(), 1u);
  EXPECT_EQ(r.files[0].name, "fileRap");
  EXPECT_EQ(r.files[0].filename, "file=.txt");
  r = multipart("920120-2");
  ASSERT_EQ(r.files.size(), 1u);
  EXPECT_EQ(r.files[0].name, "fi=le");
  EXPECT_TRUE(hasPair(r.args, "note", "Contact info."));
}

TEST(CrsBodies, CharsetFieldAndPartHeadersReachTheMultipartRules) {
  // 922100 reads ARGS:_charset_, 922110 the Content-Type part headers, 922120 Content-Transfer-Encoding.
  // These bodies use bare LF line endings, which v2 flags too.
  MultipartResult r = multipart("922100-1");
  EXPECT_TRUE(hasPair(r.args, "_charset_", "utf-7"));
  EXPECT_TRUE(r.flags.lfLine);
  r = multipart("922110-1");
  EXPECT_TRUE(hasPair(r.partHeaders, "922110", "Content-Type: text/plain; charset=utf-7"));
  EXPECT_TRUE(hasPair(r.partHeaders, "_charset_", "Content-disposition: form-data; name=\"_charset_\""));
  r = multipart("922120-1");
  EXPECT_TRUE(hasPair(r.partHeaders, "flavors", "Content-Transfer-Encoding: 8bit"));
}

TEST(CrsBodies, JsonInsideAMultipartFieldStaysText) {
  MultipartResult r = multipart("944120-13");
  EXPECT_TRUE(hasPair(r.args, "payload", R"({"ProcessBuilder.evil.clonetransformer": "test"})"));
}

TEST(CrsBodies, JsonValuesAndKeysReachArgsAndArgsNames) {
  JsonResult r = json("944130-9");
  EXPECT_EQ(r.args, (Args{{"test", "com.opensymphony.xwork2"}}));
  r = json("944300-32");
  ASSERT_EQ(r.args.size(), 1u);
  EXPECT_EQ(r.args[0].second, "test");
  EXPECT_NE(r.args[0].first.find("BydW50aW1l"), std::string::npos);
}

TEST(CrsBodies, XmlTextAndAttributeValuesAreSeenButNotNames) {
  // 944100 reads XML:/* and XML://@*: a match is expected in text (-14) and attribute values (-13), none
  // in element names (-11) or attribute names (-12).
  EXPECT_TRUE(anyContains(xml("944100-14").values, "java.lang.Runtime"));
  EXPECT_TRUE(anyContains(xml("944100-13").attributeValues, "java.lang.Runtime"));
  for (const char* title : {"944100-11", "944100-12"}) {
    XmlResult r = xml(title);
    EXPECT_FALSE(anyContains(r.values, "java.lang.Runtime")) << title;
    EXPECT_FALSE(anyContains(r.attributeValues, "java.lang.Runtime")) << title;
  }
  EXPECT_TRUE(anyContains(xml("944130-7").values, "com.opensymphony.xwork2"));
}

}  // namespace
}  // namespace bulwark::waf::body
