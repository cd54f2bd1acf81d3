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
  EXPECT_NE(line.find("[client 192.0.2.9] ModSecurity: Warning. Matched \"Operator `Rx'"), std::string::npos)
      << line;
  EXPECT_NE(line.find("against variable `ARGS:pan' (Value: `************1111' )"), std::string::npos) << line;
  EXPECT_NE(line.find("[file \"/rules/test.conf\"] [line \"1\"] [id \"942999\"] [msg \"card seen\"]"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("[data \"************1111\"] [severity \"CRITICAL\"]"), std::string::npos) << line;
  EXPECT_NE(line.find("[tag \"pci\"] [hostname \"shop.example\"] [uri \"/pay?pan=************1111\"] "
                      "[unique_id \"abc123\"]"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("4111111111111111"), std::string::npos);
  std::string audit;
  appendAuditRecord(audit, tx, 200);
  EXPECT_NE(audit.find("\"ruleId\":\"942999\""), std::string::npos) << audit;
  EXPECT_EQ(audit.find("secret-token"), std::string::npos) << audit;
  EXPECT_EQ(audit.find("4111111111111111"), std::string::npos) << audit;
}

std::unique_ptr<Transaction> runAudited(const std::string& rules) {
  CompileResult r = compileText(rules, "/rules/audit.conf");
  EXPECT_TRUE(r.program) << (r.errors.empty() ? "" : r.errors[0]);
  auto tx =
      std::make_unique<Transaction>(r.program, TxInfo{"192.0.2.9", 1234, "127.0.0.1", 8080, "id1", "h"});
  tx->setRequestLine("GET", "/x?q=attack", "HTTP/1.1");
  tx->addRequestHeader("X-Req", "req-header");
  tx->processRequestHeaders();
  tx->setResponseStatus(200, "HTTP/1.1");
  tx->addResponseHeader("X-Resp", "resp-header");
  tx->processResponseHeaders();
  tx->processLogging();
  return tx;
}

TEST(WafAuditLog, PartsChooseTheSectionsWritten) {
  const std::string rule = "SecRule ARGS \"@rx attack\" \"id:1,phase:1,pass,log,msg:'seen'\"\n";
  std::string audit;
  appendAuditRecord(audit, *runAudited("SecAuditLogParts AHZ\n" + rule), 200);
  EXPECT_EQ(audit.find("req-header"), std::string::npos) << audit;
  EXPECT_EQ(audit.find("resp-header"), std::string::npos) << audit;
  EXPECT_NE(audit.find("\"ruleId\":\"1\""), std::string::npos) << audit;
  audit.clear();
  appendAuditRecord(audit, *runAudited("SecAuditLogParts ABZ\n" + rule), 200);
  EXPECT_NE(audit.find("req-header"), std::string::npos) << audit;
  EXPECT_EQ(audit.find("\"messages\""), std::string::npos) << audit;
  EXPECT_EQ(audit.back(), '\n');
  EXPECT_EQ(audit.substr(audit.size() - 3), "}}\n");
  // ctl:auditLogParts=+F (CRS uses +E the same way) adds a part for this transaction only.
  audit.clear();
  auto tx = runAudited(
      "SecAuditLogParts ABZ\nSecRule ARGS \"@rx attack\" \"id:2,phase:1,pass,ctl:auditLogParts=+F\"\n");
  EXPECT_EQ(tx->auditLogParts(), "ABZF");
  appendAuditRecord(audit, *tx, 200);
  EXPECT_NE(audit.find("resp-header"), std::string::npos) << audit;
}

TEST(WafAuditLog, EngineDecidesWhichTransactionsAreRecorded) {
  const std::string match = "SecRule ARGS \"@rx attack\" \"id:1,phase:1,pass,log\"\n";
  const std::string nolog = "SecRule ARGS \"@rx attack\" \"id:1,phase:1,pass,nolog\"\n";
  EXPECT_FALSE(runAudited("SecAuditEngine Off\n" + match)->auditRecordWanted(200));
  EXPECT_TRUE(runAudited("SecAuditEngine On\n" + nolog)->auditRecordWanted(200));
  EXPECT_TRUE(runAudited("SecAuditEngine RelevantOnly\n" + match)->auditRecordWanted(200));
  auto quiet =
      runAudited("SecAuditEngine RelevantOnly\nSecAuditLogRelevantStatus \"^(?:5|4(?!04))\"\n" + nolog);
  EXPECT_FALSE(quiet->auditRecordWanted(200));
  EXPECT_FALSE(quiet->auditRecordWanted(404));
  EXPECT_TRUE(quiet->auditRecordWanted(503));
  // No SecAuditEngine at all: relevant transactions (the gateway's audit_log opts in to the log itself).
  EXPECT_TRUE(runAudited(match)->auditRecordWanted(200));
  EXPECT_FALSE(runAudited(nolog)->auditRecordWanted(200));
  // ctl:auditEngine=Off for one transaction.
  EXPECT_FALSE(
      runAudited(
          "SecAuditEngine On\nSecRule ARGS \"@rx attack\" \"id:3,phase:1,pass,nolog,ctl:auditEngine=Off\"\n")
          ->auditRecordWanted(200));
}

}  // namespace
}  // namespace bulwark::waf
