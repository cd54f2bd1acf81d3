// readText/readFile: lines, continuations, comments, Include, limits and error reporting.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "waf/seclang/parser.h"

namespace bulwark::waf::seclang {
namespace {

const std::string kData = std::string(BULWARK_TEST_DATA) + "/waf/seclang";

std::vector<std::string> names(const ReadResult& r) {
  std::vector<std::string> out;
  for (const Directive& d : r.directives) out.push_back(d.name);
  return out;
}

// SecMarker arguments in order: the include tests use one marker per place.
std::vector<std::string> markers(const ReadResult& r) {
  std::vector<std::string> out;
  for (const Directive& d : r.directives) {
    if (d.name == "SecMarker" && !d.args.empty()) out.push_back(d.args[0]);
  }
  return out;
}

std::vector<std::string> messages(const ReadResult& r) {
  std::vector<std::string> out;
  for (const ParseError& e : r.errors) out.push_back(e.message);
  return out;
}

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/bulwark-seclang-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }

 private:
  std::string path_;
};

TEST(SecLangReader, JoinsContinuationLinesKeepingTheNextLinesLeadingWhiteSpace) {
  const ReadResult r = readText(
      "SecRule ARGS \\\n"
      "    \"@rx a\" \\\n"
      "    \"id:1,\\\n"
      "    phase:2\"\n"
      "SecMarker next\n",
      "t.conf");
  ASSERT_TRUE(r.ok()) << messages(r)[0];
  ASSERT_EQ(r.directives.size(), 2u);
  EXPECT_EQ(r.directives[0].args, (std::vector<std::string>{"ARGS", "@rx a", "id:1,    phase:2"}));
  EXPECT_EQ(r.directives[0].loc.line, 1);
  EXPECT_EQ(r.directives[1].loc.line, 5);
}

TEST(SecLangReader, ContinuationJoinsWithoutAddingWhiteSpace) {
  const ReadResult r = readText("SecMarker foo\\\nbar\n", "t.conf");
  ASSERT_EQ(r.directives.size(), 1u);
  EXPECT_EQ(r.directives[0].args, std::vector<std::string>{"foobar"});
}

TEST(SecLangReader, ContinuationWorksWithCrLfLineEnds) {
  const ReadResult r = readText("SecMarker a \\\r\n  b\r\nSecMarker c\r\n", "t.conf");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.directives.size(), 2u);
  EXPECT_EQ(r.directives[0].args, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.directives[1].args, std::vector<std::string>{"c"});
  EXPECT_EQ(r.directives[1].loc.line, 3);
}

TEST(SecLangReader, EveryBackslashEndingALineContinuesIt) {
  // httpd 2.4 no longer treats "\\" at the end as an escaped backslash: one backslash goes, the line goes on.
  const ReadResult r = readText("SecMarker a\\\\\n b\n", "t.conf");
  ASSERT_EQ(r.directives.size(), 1u);
  EXPECT_EQ(r.directives[0].args, (std::vector<std::string>{"a\\", "b"}));
}

TEST(SecLangReader, BackslashFollowedByWhiteSpaceDoesNotContinue) {
  const ReadResult r = readText("SecMarker a\\ \nSecMarker b\n", "t.conf");
  ASSERT_EQ(r.directives.size(), 2u);
  EXPECT_EQ(r.directives[0].args, std::vector<std::string>{"a\\"});
}

TEST(SecLangReader, ContinuationInsideQuotesKeepsTheText) {
  const ReadResult r = readText("SecAction \"id:1,\\\nmsg:'a \\\nb'\"\n", "t.conf");
  ASSERT_EQ(r.directives.size(), 1u);
  EXPECT_EQ(r.directives[0].args, std::vector<std::string>{"id:1,msg:'a b'"});
}

TEST(SecLangReader, SkipsCommentsAndBlankLines) {
  const ReadResult r = readText(
      "# a comment\n"
      "\n"
      "   \t\n"
      "    # an indented comment\n"
      "SecMarker one # not a comment here\n"
      "#SecMarker commented-out\n",
      "t.conf");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.directives.size(), 1u);
  EXPECT_EQ(r.directives[0].args, (std::vector<std::string>{"one", "#", "not", "a", "comment", "here"}));
  EXPECT_EQ(r.directives[0].loc.line, 5);
}

TEST(SecLangReader, CommentEndingInBackslashSwallowsTheNextLine) {
  // As in Apache: continuation is joined before the line is looked at, so the comment goes on.
  const ReadResult r = readText("# comment \\\nSecMarker swallowed\nSecMarker kept\n", "t.conf");
  EXPECT_EQ(markers(r), std::vector<std::string>{"kept"});
  EXPECT_EQ(r.directives[0].loc.line, 3);
}

TEST(SecLangReader, CommentedOutMultiLineRuleStaysCommentedOut) {
  const ReadResult r = readText(
      "#SecRule ARGS \"@rx a\" \\\n"
      "#    \"id:1,\\\n"
      "#    chain\"\n"
      "#    SecRule ARGS \"@rx b\" \"t:none\"\n"
      "SecMarker after\n",
      "t.conf");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(names(r), std::vector<std::string>{"SecMarker"});
  EXPECT_EQ(r.directives[0].loc.line, 5);
}

TEST(SecLangReader, DirectiveNameKeepsItsCase) {
  const ReadResult r = readText("secrule ARGS x\nSECMARKER y\n", "t.conf");
  EXPECT_EQ(names(r), (std::vector<std::string>{"secrule", "SECMARKER"}));
}

TEST(SecLangReader, ReadsTheLastLineWithoutANewline) {
  const ReadResult r = readText("SecMarker a\nSecMarker b", "t.conf");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(markers(r), (std::vector<std::string>{"a", "b"}));
}

TEST(SecLangReader, IgnoresAByteOrderMark) {
  const ReadResult r = readText("\xEF\xBB\xBFSecMarker a\n", "t.conf");
  EXPECT_EQ(names(r), std::vector<std::string>{"SecMarker"});
}

TEST(SecLangReader, EmptyTextGivesNoDirectives) {
  const ReadResult r = readText("", "t.conf");
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.directives.empty());
}

TEST(SecLangReader, ReportsContinuationAtEndOfFile) {
  for (const char* text : {"SecMarker a\nSecMarker b \\\n", "SecMarker a\nSecMarker b \\"}) {
    const ReadResult r = readText(text, "t.conf");
    ASSERT_EQ(r.errors.size(), 1u) << text;
    EXPECT_EQ(r.errors[0].message,
              "t.conf:2: the file ends with a line continuation ('\\' on the last line)");
    EXPECT_EQ(markers(r), std::vector<std::string>{"a"});
  }
}

TEST(SecLangReader, ReportsNulBytes) {
  const ReadResult r = readText(std::string("SecMarker a\nSecMarker b\0c\n", 25), "t.conf");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "t.conf:2: NUL byte in the line");
}

TEST(SecLangReader, CollectsEveryErrorOfAFileWithItsLine) {
  const ReadResult r = readText(
      "SecMarker ok-1\n"
      "SecRule ARGS \"@rx a\n"
      "SecMarker ok-2\n"
      "SecRule ARGS \\\n"
      "  'x\n"
      "SecMarker ok-3\n",
      "rules/t.conf");
  EXPECT_EQ(messages(r), (std::vector<std::string>{
                             "rules/t.conf:2: unterminated \" quote (opened at character 14)",
                             "rules/t.conf:4: unterminated ' quote (opened at character 16)",
                         }));
  EXPECT_EQ(markers(r), (std::vector<std::string>{"ok-1", "ok-2", "ok-3"}));
}

TEST(SecLangReader, ExpandsIncludesRelativeToTheIncludingFileInSortedGlobOrder) {
  const ReadResult r = readFile(kData + "/include/main.conf");
  ASSERT_TRUE(r.ok()) << messages(r)[0];
  EXPECT_EQ(markers(r), (std::vector<std::string>{"main-1", "first", "inner", "second", "leaf", "main-2"}));
  ASSERT_EQ(r.directives.size(), 6u);
  EXPECT_EQ(r.directives[0].loc.file, kData + "/include/main.conf");
  EXPECT_EQ(r.directives[0].loc.line, 2);
  EXPECT_EQ(r.directives[2].loc.file, kData + "/include/rules/nested/inner.conf");
  EXPECT_EQ(r.directives[2].loc.line, 1);
  EXPECT_EQ(r.directives[5].loc.line, 5);
}

TEST(SecLangReader, ReadsATopLevelGlob) {
  const ReadResult r = readFile(kData + "/include/rules/*.conf");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(markers(r), (std::vector<std::string>{"first", "inner", "second"}));
}

TEST(SecLangReader, ReportsMissingIncludesAtTheIncludeDirective) {
  const std::string file = kData + "/include-errors/missing.conf";
  const ReadResult r = readFile(file);
  const std::string dir = kData + "/include-errors/";
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                file + ":2: cannot open '" + dir + "does-not-exist.conf': No such file or directory",
                file + ":3: no file matches '" + dir + "nothing-*.conf'",
                file + ":6: Include takes exactly one argument, a path or a glob",
                file + ":7: Include takes exactly one argument, a path or a glob",
            }));
  EXPECT_EQ(markers(r), (std::vector<std::string>{"before", "after"}));
}

TEST(SecLangReader, ReportsIncludeCycles) {
  const std::string dir = kData + "/include-errors/";
  const ReadResult r = readFile(dir + "cycle-a.conf");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.errors[0].message.starts_with(dir + "cycle-b.conf:2: Include cycle: "))
      << r.errors[0].message;
  EXPECT_NE(r.errors[0].message.find("cycle-a.conf -> "), std::string::npos);
  EXPECT_EQ(markers(r), (std::vector<std::string>{"in-a", "in-b"}));

  const ReadResult self = readFile(dir + "self.conf");
  ASSERT_EQ(self.errors.size(), 1u);
  EXPECT_TRUE(self.errors[0].message.starts_with(dir + "self.conf:1: Include cycle: "))
      << self.errors[0].message;
}

TEST(SecLangReader, ReportsIncludesNestedTooDeep) {
  const std::string dir = kData + "/include-errors/";
  ReadLimits limits;
  limits.maxIncludeDepth = 2;
  const ReadResult r = readFile(dir + "chain-1.conf", limits);
  EXPECT_EQ(messages(r),
            std::vector<std::string>{dir + "chain-3.conf:1: Include nested more than 2 levels deep"});
  limits.maxIncludeDepth = 3;
  EXPECT_EQ(markers(readFile(dir + "chain-1.conf", limits)), std::vector<std::string>{"deepest"});
}

TEST(SecLangReader, RefusesIncludeWhenDisabled) {
  ReadLimits limits;
  limits.allowInclude = false;
  const ReadResult r =
      readText("SecMarker a\nInclude " + kData + "/include/leaf.conf\nincludeoptional x\n", "t.conf", limits);
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{"t.conf:2: Include is disabled here (no file may be read)",
                                      "t.conf:3: includeoptional is disabled here (no file may be read)"}));
  EXPECT_EQ(markers(r), std::vector<std::string>{"a"});
}

TEST(SecLangReader, ReadTextResolvesIncludesAgainstTheCurrentDirectory) {
  char* saved = ::get_current_dir_name();
  const std::string cwd = saved;
  std::free(saved);
  ASSERT_EQ(::chdir((kData + "/include").c_str()), 0);
  const ReadResult r = readText("Include leaf.conf\n", "t.conf");
  ASSERT_EQ(::chdir(cwd.c_str()), 0);
  EXPECT_EQ(markers(r), std::vector<std::string>{"leaf"});
}

TEST(SecLangReader, ReportsAMissingTopLevelFile) {
  const ReadResult r = readFile(kData + "/nope.conf");
  EXPECT_EQ(messages(r), std::vector<std::string>{kData + "/nope.conf: cannot open '" + kData +
                                                  "/nope.conf': No such file or directory"});
  EXPECT_EQ(messages(readFile(kData + "/nope-*.conf")),
            std::vector<std::string>{kData + "/nope-*.conf: no file matches '" + kData + "/nope-*.conf'"});
}

TEST(SecLangReader, RefusesDirectoriesAndSpecialFiles) {
  TempDir tmp;
  ASSERT_EQ(::mkdir((tmp.path() + "/dir.conf").c_str(), 0700), 0);
  ASSERT_EQ(::mkfifo((tmp.path() + "/fifo.conf").c_str(), 0600), 0);
  const std::string main = tmp.write("main.conf", "Include dir.conf\nInclude fifo.conf\nInclude d*.conf\n");
  const ReadResult r = readFile(main);
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_NE(r.errors[0].message.find(":1: '" + tmp.path() + "/dir.conf' is a directory"), std::string::npos);
  EXPECT_NE(r.errors[1].message.find(":2: '" + tmp.path() + "/fifo.conf' is not a regular file"),
            std::string::npos);
  EXPECT_NE(r.errors[2].message.find(":3: '" + tmp.path() + "/dir.conf/' (matched by"), std::string::npos);
}

TEST(SecLangReader, StopsAfterMaxFiles) {
  TempDir tmp;
  tmp.write("a.conf", "SecMarker a\n");
  tmp.write("b.conf", "SecMarker b\n");
  tmp.write("c.conf", "SecMarker c\n");
  ReadLimits limits;
  limits.maxFiles = 2;
  const ReadResult r = readFile(tmp.path() + "/*.conf", limits);
  EXPECT_EQ(markers(r), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(messages(r),
            std::vector<std::string>{tmp.path() + "/c.conf: more than 2 files read; stopped reading"});
}

TEST(SecLangReader, ExponentialIncludesStopAtMaxFiles) {
  // Each level includes the next one ten times: 10^4 reads without the limit.
  TempDir tmp;
  for (int level = 1; level <= 4; ++level) {
    std::string text;
    for (int i = 0; i < 10; ++i) text += "Include l" + std::to_string(level + 1) + ".conf\n";
    tmp.write("l" + std::to_string(level) + ".conf", text);
  }
  tmp.write("l5.conf", "SecMarker leaf\n");
  ReadLimits limits;
  limits.maxFiles = 300;
  const ReadResult r = readFile(tmp.path() + "/l1.conf", limits);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("more than 300 files read; stopped reading"), std::string::npos);
  EXPECT_LT(r.directives.size(), 300u);
}

TEST(SecLangReader, StopsAfterMaxDirectives) {
  ReadLimits limits;
  limits.maxDirectives = 2;
  const ReadResult r = readText("SecMarker a\nSecMarker b\nSecMarker c\nSecMarker d\n", "t.conf", limits);
  EXPECT_EQ(markers(r), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(messages(r), std::vector<std::string>{"t.conf:3: more than 2 directives; stopped reading"});
}

TEST(SecLangReader, RefusesFilesOverTheSizeLimit) {
  ReadLimits limits;
  limits.maxFileBytes = 20;
  EXPECT_EQ(messages(readText("SecMarker 0123456789\n", "t.conf", limits)),
            std::vector<std::string>{"t.conf: larger than the limit of 20 bytes"});
  TempDir tmp;
  const std::string big = tmp.write("big.conf", "SecMarker 0123456789\n");
  const std::string main = tmp.write("main.conf", "Include big.conf\n");
  EXPECT_EQ(messages(readFile(main, limits)),
            std::vector<std::string>{main + ":1: '" + big + "' is larger than the limit of 20 bytes"});
}

TEST(SecLangReader, ReadsHugeInputWithoutTrouble) {
  // 4 MiB on one line, many short lines, many continued lines.
  const std::string longLine = "SecMarker " + std::string(4 << 20, 'a');
  ReadResult r = readText(longLine, "t.conf");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.directives[0].args[0].size(), 4u << 20);
  std::string many;
  for (int i = 0; i < 20000; ++i) many += "SecMarker m" + std::to_string(i) + "\n";
  r = readText(many, "t.conf");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.directives.size(), 20000u);
  EXPECT_EQ(r.directives.back().loc.line, 20000);
  std::string continued = "SecAction \"id:1";
  for (int i = 0; i < 20000; ++i) continued += ",\\\n  pass";
  r = readText(continued + "\"\n", "t.conf");
  ASSERT_TRUE(r.ok());
  std::vector<ActionRef> actions;
  std::string error;
  ASSERT_TRUE(parseActions(r.directives[0].args[0], actions, error)) << error;
  EXPECT_EQ(actions.size(), 20001u);
}

}  // namespace
}  // namespace bulwark::waf::seclang
