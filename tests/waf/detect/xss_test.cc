// Behaviour of detectXss(): tags, attributes, URL schemes and the contexts the input may be echoed
// into. Corpora are in corpus_test.cc.
#include <gtest/gtest.h>

#include <string>

#include "waf/detect/detect.h"

namespace bulwark::waf {
namespace {

TEST(DetectXss, FlagsScriptCapableElementsWithOrWithoutNamespace) {
  EXPECT_TRUE(detectXss("<script>alert(1)</script>"));
  EXPECT_TRUE(detectXss("<x:script xmlns:x=\"http://www.w3.org/1999/xhtml\" src=\"data:,alert(1)\" />"));
  EXPECT_TRUE(detectXss("<iframe src=https://example.com>"));
  EXPECT_TRUE(detectXss("</script>"));
}

TEST(DetectXss, AllowsFormattingTagsAndLinks) {
  // Decision: rich text is everyday input; a tag is XSS when it can run script, not because it is a tag.
  EXPECT_FALSE(detectXss("<b>bold</b> and <i>italic</i>"));
  EXPECT_FALSE(detectXss("<a href=\"https://example.com\">link</a>"));
  EXPECT_FALSE(detectXss("<img src=\"https://example.com/a.png\" alt=\"logo\">"));
  EXPECT_FALSE(detectXss("<span style=\"color:red\">red</span>"));
}

TEST(DetectXss, FlagsEventHandlersOnAnyTag) {
  EXPECT_TRUE(detectXss("<img src=x onerror=alert(1)>"));
  EXPECT_TRUE(detectXss("<svg/onload=alert(1)>"));
  EXPECT_TRUE(detectXss("<b onmouseover=alert(1)>x</b>"));
  EXPECT_TRUE(detectXss("<x onbrandnewevent=alert(1)>"));  // unknown events count inside a tag
}

TEST(DetectXss, ReadsComparisonsAndHeartsAsText) {
  EXPECT_FALSE(detectXss("a < b"));
  EXPECT_FALSE(detectXss("I <3 you"));
  EXPECT_FALSE(detectXss("x<3 and y>2"));
  EXPECT_FALSE(detectXss("John <john@example.com>"));
}

TEST(DetectXss, FlagsScriptUrlsInUrlAttributesEvenWhenObfuscated) {
  EXPECT_TRUE(detectXss("<a href=\"javascript:alert(1)\">x</a>"));
  EXPECT_TRUE(detectXss("<a href=\" JaVa\tScRiPt:alert(1)\">x</a>"));
  EXPECT_TRUE(detectXss("<a href=\"jav&#x09;ascript:alert(1)\">x</a>"));
  EXPECT_TRUE(detectXss("<a href=\"&#106;avascript&colon;alert(1)\">x</a>"));
  EXPECT_TRUE(detectXss("<object data=\"data:text/html,<b>x</b>\">"));
  EXPECT_FALSE(detectXss("<img src=\"data:image/png;base64,iVBORw0KGgo=\">"));
}

TEST(DetectXss, FlagsAValueThatIsItselfAScriptUrl) {
  EXPECT_TRUE(detectXss("javascript:alert(1)"));
  EXPECT_TRUE(detectXss("data:text/html,<b>x</b>"));
  EXPECT_FALSE(detectXss("JavaScript: The Good Parts"));
  EXPECT_FALSE(detectXss("data: none"));
}

TEST(DetectXss, FindsBreakoutsFromAttributeValues) {
  EXPECT_TRUE(detectXss("\" onmouseover=\"alert(1)"));
  EXPECT_TRUE(detectXss("' onfocus='alert(1)' autofocus='"));
  EXPECT_TRUE(detectXss("x onerror=alert(1)"));
  EXPECT_TRUE(detectXss("onerror=alert(1)"));
  EXPECT_FALSE(detectXss("online=yes"));
  EXPECT_FALSE(detectXss("one=1 two=2"));
}

TEST(DetectXss, FlagsScriptInStyle) {
  EXPECT_TRUE(detectXss("<div style=\"width: expression(alert(1))\">"));
  EXPECT_TRUE(detectXss("<div style=\"x:expr/**/ession(alert(1))\">"));
  EXPECT_TRUE(detectXss("<p style=\"background:url(javascript:alert(1))\">"));
  EXPECT_FALSE(detectXss("<p style=\"font-weight: bold; margin: 0 auto\">"));
}

TEST(DetectXss, FlagsSrcdocWithMarkup) {
  EXPECT_TRUE(detectXss("<frame srcdoc=\"<script>alert(1)</script>\">"));
  EXPECT_TRUE(detectXss("<p srcdoc=\"<img src=x>\">"));
}

TEST(DetectXss, FindsScriptTagsHiddenFromTheTokenizer) {
  EXPECT_TRUE(detectXss("<scr<script>ipt>alert(1)</script>"));
  EXPECT_TRUE(detectXss("<!--<script>alert(1)//-->"));
  EXPECT_TRUE(detectXss("<a title=\"<img src=x onerror=alert(1)>\">"));
}

TEST(DetectXss, FindsJavaScriptStringBreakouts) {
  EXPECT_TRUE(detectXss("';alert(1);//"));
  EXPECT_TRUE(detectXss("\"-confirm(1)-\""));
  EXPECT_FALSE(detectXss("alert me when it ships"));
  EXPECT_FALSE(detectXss("'alert' is a word"));
}

TEST(DetectXss, ToleratesArbitraryBytes) {
  EXPECT_FALSE(detectXss(""));
  EXPECT_FALSE(detectXss("<"));
  EXPECT_FALSE(detectXss("</"));
  EXPECT_FALSE(detectXss("<a"));
  EXPECT_FALSE(detectXss("<a href="));
  EXPECT_FALSE(detectXss("<a href=\""));
  EXPECT_FALSE(detectXss("&#"));
  EXPECT_FALSE(detectXss(std::string("\0<\0", 3)));
  EXPECT_FALSE(detectXss("\xff<\xfe"));
}

}  // namespace
}  // namespace bulwark::waf
