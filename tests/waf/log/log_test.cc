#include "waf/log/log.h"

#include <gtest/gtest.h>

namespace bulwark::waf {
namespace {

TEST(WafLogMasking, MasksLuhnValidCardNumbersWithOrWithoutSeparators) {
  EXPECT_EQ(maskCardNumbers("card=4111111111111111&x=1"), "card=************1111&x=1");
  EXPECT_EQ(maskCardNumbers("4111 1111 1111 1111"), "**** **** **** 1111");
  EXPECT_EQ(maskCardNumbers("5500-0000-0000-0004"), "****-****-****-0004");
  EXPECT_EQ(maskCardNumbers("order 1234567890123 ok"), "order 1234567890123 ok");  // not Luhn-valid
  EXPECT_EQ(maskCardNumbers("id=42"), "id=42");
  EXPECT_EQ(maskCardNumbers("3782 822463 10005"), "**** ****** *0005");  // Amex layout
  // Not card layouts: ids and markers with digit groups, digits glued to letters, too long runs.
  EXPECT_EQ(maskCardNumbers("944300-10-0-5f1a0447c9"), "944300-10-0-5f1a0447c9");
  EXPECT_EQ(maskCardNumbers("ref 12-4111111111111111"), "ref 12-************1111");  // a card group is masked
  EXPECT_EQ(maskCardNumbers("x4111111111111111"), "x4111111111111111");
  EXPECT_EQ(maskCardNumbers("41111111111111110000000"), "41111111111111110000000");
}

TEST(WafLogMasking, SensitiveNamesAreFullyMasked) {
  EXPECT_EQ(maskedValue("ARGS:password", "hunter2"), "*****");
  EXPECT_EQ(maskedValue("REQUEST_HEADERS:Authorization", "Bearer abc"), "*****");
  EXPECT_EQ(maskedValue("REQUEST_HEADERS:Cookie", "sid=1"), "*****");
  EXPECT_EQ(maskedValue("ARGS:q", "hello"), "hello");
  EXPECT_TRUE(isSensitiveName("new_passwd"));
  EXPECT_TRUE(isSensitiveName("Set-Cookie"));
  EXPECT_FALSE(isSensitiveName("username"));
}

TEST(WafErrorLog, LineHasModSecurityFieldsAndMaskedValues) {
  CompileResult r = compileText(
      "SecRule ARGS \"@rx [0-9]{16}\" \"id:942999,phase:1,pass,log,msg:'card seen',logdata:'%{MATCHED_VAR}',"
      "severity:CRITICAL,tag:'pci'\"\n",
      "/rules/test.conf");
  ASSERT_TRUE(r.program) << (r.errors.empty() ? "" : r.errors[0]);
  Transaction tx(r.program, TxInfo{"192.0.2.9", 1234, "127.0.0.1", 8080, "abc123", "shop.example"});
  tx.setRequestLine("GET", "/pay?pan=4111111111111111", "HTTP/1.1");
  tx.addRequestHeader("Authorization", "Bearer secret-token");
  tx.processRequestHeaders();
  ASSERT_EQ(tx.matches().size(), 1u);
  std::string line;
  appendErrorLogLine(line, tx, tx.matches()[0]);
  EXPECT_NE(line.find("[client 192.0.2.9] ModSecurity: Warning. Matched \"Operator `Rx'"), std::string::npos) << line;
  EXPECT_NE(line.find("against variable `ARGS:pan' (Value: `************1111' )"), std::string::npos) << line;
  EXPECT_NE(line.find("[file \"/rules/test.conf\"] [line \"1\"] [id \"942999\"] [msg \"card seen\"]"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("[data \"************1111\"] [severity \"CRITICAL\"]"), std::string::npos) << line;
  EXPECT_NE(line.find("[tag \"pci\"] [hostname \"shop.example\"] [uri \"/pay?pan=************1111\"] [unique_id \"abc123\"]"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("4111111111111111"), std::string::npos);
  std::string audit;
  appendAuditRecord(audit, tx, 200);
  EXPECT_NE(audit.find("\"ruleId\":\"942999\""), std::string::npos) << audit;
  EXPECT_EQ(audit.find("secret-token"), std::string::npos) << audit;
  EXPECT_EQ(audit.find("4111111111111111"), std::string::npos) << audit;
}

}  // namespace
}  // namespace bulwark::waf
