#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "waf/body/body.h"

namespace bulwark::waf::body {
namespace {

XmlResult parse(std::string_view body, const Limits& limits = Limits{}) {
  XmlResult r;
  parseXml(body, limits, r);
  return r;
}

std::string billionLaughs(int levels) {
  std::string doc = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol0 \"lol\">";
  for (int i = 1; i <= levels; ++i) {
    doc += "<!ENTITY lol" + std::to_string(i) + " \"";
    for (int k = 0; k < 10; ++k) doc += "&lol" + std::to_string(i - 1) + ";";
    doc += "\">";
  }
  return doc + "]><lolz>&lol" + std::to_string(levels) + ";</lolz>";
}

long maxRssKiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST(Xml, RootTextContentIsTheOneValue) {
  XmlResult r =
      parse("<order id=\"7\"><item>apple</item> <!-- no --> <?pi no?><note><![CDATA[<b>]]></note></order>");
  ASSERT_FALSE(r.error) << r.errorMsg;
  EXPECT_EQ(r.values, (std::vector<std::string>{"apple  <b>"}));
}

TEST(Xml, AttributesAreNotPartOfTheValue) {
  XmlResult r = parse(R"xml(<a href="javascript:alert(1)">text</a>)xml");
  ASSERT_FALSE(r.error) << r.errorMsg;
  EXPECT_EQ(r.values, (std::vector<std::string>{"text"}));
}

TEST(Xml, AttributeValuesAreListedInDocumentOrder) {
  XmlResult r = parse(
      "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY e \"ent\">]>"
      "<a x=\"1\" y=\"&e;!\"><b z=\"&lt;2\"/><c xmlns:p=\"urn:p\" p:w=\"3\">t</c></a>");
  ASSERT_FALSE(r.error) << r.errorMsg;
  EXPECT_EQ(r.attributeValues, (std::vector<std::string>{"1", "ent!", "<2", "3"}));
  EXPECT_EQ(r.values, (std::vector<std::string>{"t"}));
}

TEST(Xml, PredefinedCharacterAndInternalEntitiesAreExpanded) {
  XmlResult r =
      parse("<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY who \"world\">]><r>&lt;hello&gt; &#x41; &who;</r>");
  ASSERT_FALSE(r.error) << r.errorMsg;
  EXPECT_EQ(r.values, (std::vector<std::string>{"<hello> A world"}));
}

TEST(Xml, DeclaredEncodingIsConvertedToUtf8) {
  XmlResult r = parse("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>caf\xe9</r>");
  ASSERT_FALSE(r.error) << r.errorMsg;
  EXPECT_EQ(r.values, (std::vector<std::string>{"caf\xc3\xa9"}));
}

TEST(Xml, ExternalEntityIsNeverFetched) {
  std::ifstream passwd("/etc/passwd");
  std::stringstream content;
  content << passwd.rdbuf();
  ASSERT_FALSE(content.str().empty());
  std::string firstLine = content.str().substr(0, content.str().find('\n'));

  XmlResult r = parse(
      "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "
      "\"file:///etc/passwd\">]><r>before&xxe;after</r>");
  ASSERT_EQ(r.values.size(), 1u);
  EXPECT_EQ(r.values[0], "beforeafter");
  EXPECT_EQ(r.values[0].find(firstLine), std::string::npos);
}

TEST(Xml, ExternalParameterEntityAndDtdAreNeverFetched) {
  std::ifstream passwd("/etc/passwd");
  std::string firstLine;
  std::getline(passwd, firstLine);
  for (std::string doc : {
           "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><r>x</r>",
           "<?xml version=\"1.0\"?><!DOCTYPE r SYSTEM \"file:///etc/passwd\"><r>x</r>",
           "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY % d SYSTEM \"http://127.0.0.1:9/evil.dtd\"> "
           "%d;]><r>x</r>",
       }) {
    SCOPED_TRACE(doc);
    XmlResult r = parse(doc);
    ASSERT_EQ(r.values.size(), 1u);
    EXPECT_EQ(r.values[0], "x");
    EXPECT_EQ(r.errorMsg.find(firstLine), std::string::npos);
  }
}

TEST(Xml, InvalidXmlIsAnErrorWithLibxml2sMessage) {
  XmlResult r = parse("<a><b>text</a>");
  EXPECT_TRUE(r.error);
  EXPECT_NE(r.errorMsg.find("XML: Failed parsing document"), std::string::npos) << r.errorMsg;
  EXPECT_NE(r.errorMsg.find("mismatch"), std::string::npos) << r.errorMsg;
}

TEST(Xml, TextBeforeAnErrorIsStillReported) {
  XmlResult r = parse("<a>first <b>second</b> third <c>");
  EXPECT_TRUE(r.error);
  ASSERT_EQ(r.values.size(), 1u);
  EXPECT_EQ(r.values[0], "first second third ");
}

TEST(Xml, ContentAfterTheRootIsAnError) {
  XmlResult r = parse("<a>x</a><b>y</b>");
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.values, (std::vector<std::string>{"x"}));
}

TEST(Xml, EncodingErrorsAreReportedNotPrinted) {
  testing::internal::CaptureStderr();
  using namespace std::string_literals;
  XmlResult r = parse("<?xml version=\"1.0\" encoding=\"EUC-JP\"?><r>\xb1\x00\x00\x00</r>"s);
  std::string printed = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(r.error);
  EXPECT_EQ(printed, "");
}

TEST(Xml, NotXmlIsAnErrorWithoutValues) {
  XmlResult r = parse("test");
  EXPECT_TRUE(r.error);
  EXPECT_TRUE(r.values.empty());
}

TEST(Xml, EmptyBodyIsNothing) {
  XmlResult r = parse("");
  EXPECT_FALSE(r.error);
  EXPECT_TRUE(r.values.empty());
}

TEST(Xml, NodesBeyondTheLimitStopTheParser) {
  std::string doc = "<r>";
  for (int i = 0; i < 1000; ++i) doc += "<a>v</a>";
  doc += "</r>";
  Limits limits;
  limits.maxXmlNodes = 100;
  XmlResult r = parse(doc, limits);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.errorMsg, "XML: More than 100 nodes");
  ASSERT_EQ(r.values.size(), 1u);
  EXPECT_LE(r.values[0].size(), 100u);
  EXPECT_FALSE(parse(doc).error);
}

TEST(Xml, BillionLaughsFinishesQuicklyInBoundedMemory) {
  long rssBefore = maxRssKiB();
  auto start = std::chrono::steady_clock::now();
  XmlResult r = parse(billionLaughs(9));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(r.error);
  for (const std::string& v : r.values) EXPECT_LE(v.size(), 64u * 1024 + 4 * billionLaughs(9).size());
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  EXPECT_LT(maxRssKiB() - rssBefore, 64 * 1024);
}

TEST(Xml, RepeatedEntityIsCutAtTheContentBudget) {
  // Each reference is small, the entity is not: libxml2 lets it through, the budget does not.
  std::string doc = "<!DOCTYPE r [<!ENTITY e \"" + std::string(1000, 'x') + "\">]><r>";
  for (int i = 0; i < 10'000; ++i) doc += "&e;";
  doc += "</r>";
  auto start = std::chrono::steady_clock::now();
  XmlResult r = parse(doc);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.errorMsg, "XML: entity expansion exceeds the content budget");
  ASSERT_EQ(r.values.size(), 1u);
  EXPECT_EQ(r.values[0].size(), doc.size() * 4 + 64 * 1024);
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST(Xml, EntityOfEmptyElementsIsCutAtTheVisitBudget) {
  // No text to count, but 10,000 references to 500 nodes each: the work, not the bytes, is bounded.
  std::string entity;
  for (int i = 0; i < 500; ++i) entity += "<e/>";
  std::string doc = "<!DOCTYPE r [<!ENTITY e \"" + entity + "\">]><r>";
  for (int i = 0; i < 10'000; ++i) doc += "&e;";
  doc += "</r>";
  Limits limits;
  limits.maxXmlNodes = 20'000;
  auto start = std::chrono::steady_clock::now();
  XmlResult r = parse(doc, limits);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.errorMsg, "XML: entity expansion exceeds the content budget");
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST(Xml, DocumentAtTheNodeCapHasNoBudgetError) {
  Limits limits;
  limits.maxXmlNodes = 4500;  // the root, then per <a>: element, attribute, comment
  std::string doc = "<r>";
  for (int i = 0; i < 1499; ++i) doc += "<a k=\"" + std::to_string(i) + "\"> t <!--c--></a>";
  doc += "</r>";
  XmlResult r = parse(doc, limits);
  ASSERT_FALSE(r.error) << r.errorMsg;
  EXPECT_EQ(r.attributeValues.size(), 1499u);
}

TEST(Xml, DeepNestingIsRefusedByLibxml2NotTheStack) {
  std::string doc;
  for (int i = 0; i < 100'000; ++i) doc += "<a>";
  XmlResult r = parse(doc);
  EXPECT_TRUE(r.error);
}

}  // namespace
}  // namespace bulwark::waf::body
