#include "builder/dockerfile.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace drydock::builder {
namespace {

using Strings = std::vector<std::string>;
using Pairs = std::vector<std::pair<std::string, std::string>>;

Dockerfile MustParse(std::string_view text) {
  auto df = ParseDockerfile(text);
  EXPECT_TRUE(df.ok()) << df.status().message();
  return df.ok() ? std::move(*df) : Dockerfile{};
}

std::string ParseError(std::string_view text) {
  auto df = ParseDockerfile(text);
  EXPECT_FALSE(df.ok()) << text;
  return df.ok() ? std::string() : df.status().message();
}

std::string Expand(std::string_view word, const Env& env, char escape = '\\') {
  auto r = ExpandWord(word, env, escape);
  EXPECT_TRUE(r.ok()) << word << ": " << r.status().message();
  return r.ok() ? *r : "<error>";
}

std::string ExpandError(std::string_view word, const Env& env) {
  auto r = ExpandWord(word, env, '\\');
  EXPECT_FALSE(r.ok()) << word << " -> " << (r.ok() ? *r : "");
  return r.ok() ? std::string() : r.status().message();
}

// --- Parser directives ---

TEST(DockerfileDirectives, BacktickEscapeChangesContinuationChar) {
  auto df = MustParse("# escape=`\nFROM windows\nRUN dir `\n  c:\\\nRUN b\n");
  EXPECT_EQ(df.escape, '`');
  ASSERT_EQ(df.instructions.size(), 3u);
  // The backslash at the end of line 4 is literal under the backtick escape.
  EXPECT_EQ(df.instructions[1].raw_args, "dir   c:\\");
  EXPECT_EQ(df.instructions[1].line, 3);
  EXPECT_EQ(df.instructions[2].line, 5);
}

TEST(DockerfileDirectives, CaseInsensitiveWithSyntax) {
  auto df = MustParse("# Syntax = docker/dockerfile:1.7\n  #ESCAPE=`\nFROM a\n");
  EXPECT_EQ(df.syntax, "docker/dockerfile:1.7");
  EXPECT_EQ(df.escape, '`');
  ASSERT_EQ(df.instructions.size(), 1u);
  EXPECT_EQ(df.instructions[0].line, 3);
}

TEST(DockerfileDirectives, OnlyAtTheVeryTop) {
  // After a plain comment, a blank line, an unknown directive or an
  // instruction, `# escape=` is just a comment.
  for (const char* text :
       {"# hello\n# escape=`\nFROM a\nRUN x `\n", "\n# escape=`\nFROM a\nRUN x `\n",
        "# foo=bar\n# escape=`\nFROM a\nRUN x `\n", "FROM a\n# escape=`\nRUN x `\n"}) {
    auto df = MustParse(text);
    EXPECT_EQ(df.escape, '\\') << text;
    ASSERT_EQ(df.instructions.size(), 2u) << text;
    EXPECT_EQ(df.instructions[1].raw_args, "x `") << text;
    EXPECT_EQ(df.syntax, "") << text;
  }
}

TEST(DockerfileDirectives, DuplicateAndInvalidAreErrors) {
  EXPECT_EQ(ParseError("# escape=`\n# escape=\\\nFROM a\n"),
            "line 2: only one escape parser directive can be used");
  EXPECT_EQ(ParseError("# syntax=a\n# SYNTAX=b\nFROM a\n"),
            "line 2: only one syntax parser directive can be used");
  EXPECT_EQ(ParseError("# escape=x\nFROM a\n"),
            "line 1: invalid escape token 'x' does not match ` or \\");
}

// --- Lines, continuations, comments ---

TEST(DockerfileLines, ContinuationKeepsIndentOfNextLine) {
  auto df = MustParse("FROM a\nRUN apt-get update && \\\n    apt-get install -y x\n");
  ASSERT_EQ(df.instructions.size(), 2u);
  const Instruction& run = df.instructions[1];
  EXPECT_EQ(run.keyword, "RUN");
  EXPECT_EQ(run.raw_args, "apt-get update &&     apt-get install -y x");
  EXPECT_EQ(run.args, Strings{"apt-get update &&     apt-get install -y x"});
  EXPECT_FALSE(run.json_form);
  EXPECT_EQ(run.line, 2);
}

TEST(DockerfileLines, TrailingWhitespaceAfterEscapeStillContinues) {
  auto df = MustParse("FROM a\nRUN echo a \\ \t \n  b\n");
  ASSERT_EQ(df.instructions.size(), 2u);
  EXPECT_EQ(df.instructions[1].raw_args, "echo a   b");
}

TEST(DockerfileLines, CommentsAndBlankLinesInsideContinuation) {
  auto df = MustParse("FROM a\nRUN echo a \\\n# comment \\\n\n   \n  b\nRUN c\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  EXPECT_EQ(df.instructions[1].raw_args, "echo a   b");
  EXPECT_EQ(df.instructions[2].line, 7);
  ASSERT_EQ(df.warnings.size(), 1u);
  EXPECT_EQ(df.warnings[0].rfind("line 2: empty continuation line", 0), 0u) << df.warnings[0];
}

TEST(DockerfileLines, EscapedEscapeDoesNotContinue) {
  auto df = MustParse("FROM a\nRUN echo \\\\\nRUN b\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  EXPECT_EQ(df.instructions[1].raw_args, "echo \\\\");
  EXPECT_EQ(df.instructions[2].raw_args, "b");
  EXPECT_TRUE(df.warnings.empty());
}

TEST(DockerfileLines, ContinuationAtEndOfFile) {
  auto df = MustParse("FROM a\nRUN echo hi \\");
  ASSERT_EQ(df.instructions.size(), 2u);
  EXPECT_EQ(df.instructions[1].raw_args, "echo hi");
}

TEST(DockerfileLines, CrlfBomAndLineNumbers) {
  auto df = MustParse(
      "\xEF\xBB\xBF# comment\r\n\r\nFROM a\r\n  \r\nRUN echo hi \\\r\n  there\r\nUSER me\r\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  EXPECT_EQ(df.instructions[0].keyword, "FROM");
  EXPECT_EQ(df.instructions[0].args, Strings{"a"});
  EXPECT_EQ(df.instructions[0].line, 3);
  EXPECT_EQ(df.instructions[1].raw_args, "echo hi   there");
  EXPECT_EQ(df.instructions[1].line, 5);
  EXPECT_EQ(df.instructions[2].args, Strings{"me"});
  EXPECT_EQ(df.instructions[2].line, 7);
}

TEST(DockerfileLines, KeywordsAreCaseInsensitive) {
  auto df = MustParse("from a\nrUn x\nCopy a b\nHealthCheck NONE\n");
  ASSERT_EQ(df.instructions.size(), 4u);
  EXPECT_EQ(df.instructions[0].keyword, "FROM");
  EXPECT_EQ(df.instructions[1].keyword, "RUN");
  EXPECT_EQ(df.instructions[2].keyword, "COPY");
  EXPECT_EQ(df.instructions[3].keyword, "HEALTHCHECK");
}

// --- JSON (exec) vs shell form ---

TEST(DockerfileForms, ExecFormForRunCmdEntrypointShell) {
  auto df = MustParse(
      "FROM a\nRUN [\"sh\", \"-c\", \"echo $HOME\"]\nCMD [\"echo\", \"a b\", \"\\u00e9\\t\"]\n"
      "ENTRYPOINT []\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n");
  ASSERT_EQ(df.instructions.size(), 5u);
  EXPECT_TRUE(df.instructions[1].json_form);
  EXPECT_EQ(df.instructions[1].args, (Strings{"sh", "-c", "echo $HOME"}));
  EXPECT_EQ(df.instructions[2].args, (Strings{"echo", "a b", "\xC3\xA9\t"}));
  EXPECT_TRUE(df.instructions[3].json_form);
  EXPECT_TRUE(df.instructions[3].args.empty());
  EXPECT_EQ(df.instructions[4].args, (Strings{"/bin/bash", "-o", "pipefail", "-c"}));
}

TEST(DockerfileForms, InvalidJsonFallsBackToShellForm) {
  auto df = MustParse(
      "FROM a\nCMD [echo, hi]\nRUN [\"a\" \"b\"]\nENTRYPOINT [\"a\"] extra\nCMD echo [\"x\"]\n");
  ASSERT_EQ(df.instructions.size(), 5u);
  EXPECT_FALSE(df.instructions[1].json_form);
  EXPECT_EQ(df.instructions[1].args, Strings{"[echo, hi]"});
  EXPECT_FALSE(df.instructions[2].json_form);
  EXPECT_EQ(df.instructions[2].args, Strings{"[\"a\" \"b\"]"});
  EXPECT_FALSE(df.instructions[3].json_form);
  EXPECT_EQ(df.instructions[3].args, Strings{"[\"a\"] extra"});
  EXPECT_FALSE(df.instructions[4].json_form);
}

TEST(DockerfileForms, JsonWithNonStringsIsAnError) {
  EXPECT_EQ(ParseError("FROM a\nCMD [\"a\", 1]\n"),
            "line 2: when using JSON array syntax, arrays must be comprised of strings only");
  EXPECT_EQ(ParseError("FROM a\nCOPY [\"a\", null, \"/b\"]\n"),
            "line 2: when using JSON array syntax, arrays must be comprised of strings only");
}

TEST(DockerfileForms, CopyAddVolumeJsonAndWhitespaceForms) {
  auto df = MustParse(
      "FROM a\nCOPY [\"a b\", \"/c d/\"]\nADD a  b\t/c/\nVOLUME /a /b\nVOLUME [\"/data\"]\n"
      "COPY \"a b\" /c\n");
  ASSERT_EQ(df.instructions.size(), 6u);
  EXPECT_TRUE(df.instructions[1].json_form);
  EXPECT_EQ(df.instructions[1].args, (Strings{"a b", "/c d/"}));
  EXPECT_FALSE(df.instructions[2].json_form);
  EXPECT_EQ(df.instructions[2].args, (Strings{"a", "b", "/c/"}));
  EXPECT_EQ(df.instructions[3].args, (Strings{"/a", "/b"}));
  EXPECT_TRUE(df.instructions[4].json_form);
  EXPECT_EQ(df.instructions[4].args, Strings{"/data"});
  // As in Docker, quotes do not group COPY sources: spaces need the JSON form.
  EXPECT_EQ(df.instructions[5].args, (Strings{"\"a", "b\"", "/c"}));
}

TEST(DockerfileForms, ShellMustBeJson) {
  EXPECT_EQ(ParseError("FROM a\nSHELL /bin/bash -c\n"),
            "line 2: SHELL requires the arguments to be in JSON form");
  EXPECT_EQ(ParseError("FROM a\nSHELL []\n"), "line 2: SHELL requires at least one argument");
}

TEST(DockerfileForms, EnvWordsKeepQuotesAndEscapes) {
  auto df = MustParse("FROM a\nENV A=\"x y\" B='z' C=p\\ q\nARG V=1 W\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  EXPECT_EQ(df.instructions[1].args, (Strings{"A=\"x y\"", "B='z'", "C=p\\ q"}));
  EXPECT_EQ(df.instructions[2].args, (Strings{"V=1", "W"}));
}

// --- Flags ---

TEST(DockerfileFlags, InOrderAndRepeatable) {
  auto df = MustParse(
      "FROM a\n"
      "RUN --mount=type=cache,target=/a --mount=type=secret,id=x --network=none make all\n");
  ASSERT_EQ(df.instructions.size(), 2u);
  const auto& flags = df.instructions[1].flags;
  ASSERT_EQ(flags.size(), 3u);
  EXPECT_EQ(flags[0].name, "mount");
  EXPECT_EQ(flags[0].value, "type=cache,target=/a");
  EXPECT_EQ(flags[1].name, "mount");
  EXPECT_EQ(flags[1].value, "type=secret,id=x");
  EXPECT_EQ(flags[2].name, "network");
  EXPECT_EQ(flags[2].value, "none");
  EXPECT_EQ(df.instructions[1].raw_args, "make all");
}

TEST(DockerfileFlags, QuotesRemovedBareFlagsAndDoubleDash) {
  auto df = MustParse(
      "FROM --platform=$BUILDPLATFORM a\n"
      "COPY --link --from=\"build stage\" --chmod=755 a /b\nRUN -- --not-a-flag\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  ASSERT_EQ(df.instructions[0].flags.size(), 1u);
  EXPECT_EQ(df.instructions[0].flags[0].value, "$BUILDPLATFORM");
  const auto& flags = df.instructions[1].flags;
  ASSERT_EQ(flags.size(), 3u);
  EXPECT_EQ(flags[0].name, "link");
  EXPECT_FALSE(flags[0].has_value);
  EXPECT_EQ(flags[1].name, "from");
  EXPECT_EQ(flags[1].value, "build stage");
  EXPECT_TRUE(flags[1].has_value);
  EXPECT_EQ(flags[2].value, "755");
  EXPECT_EQ(df.instructions[1].args, (Strings{"a", "/b"}));
  EXPECT_TRUE(df.instructions[2].flags.empty());
  EXPECT_EQ(df.instructions[2].raw_args, "--not-a-flag");
}

TEST(DockerfileFlags, BadFlagsAreErrors) {
  EXPECT_EQ(ParseError("FROM a\nCOPY --frm=x a b\n"), "line 2: unknown flag: --frm");
  EXPECT_EQ(ParseError("FROM a\nCOPY --from=a --from=b x y\n"),
            "line 2: duplicate flag specified: --from");
  EXPECT_EQ(ParseError("FROM --platform a\n"), "line 1: missing a value on flag: --platform");
  EXPECT_EQ(ParseError("FROM a\nCOPY --link=maybe a b\n"),
            "line 2: expecting boolean value for flag --link, not: maybe");
  EXPECT_EQ(ParseError("FROM a\nENV --x=1 A=b\n"), "line 2: unknown flag: --x");
}

// --- Heredocs ---

TEST(DockerfileHeredoc, RunHeredoc) {
  auto df = MustParse("FROM a\nRUN <<EOF\napt-get update\napt-get install -y x\nEOF\nRUN b\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  const Instruction& run = df.instructions[1];
  EXPECT_EQ(run.args, Strings{"<<EOF"});
  ASSERT_EQ(run.heredocs.size(), 1u);
  EXPECT_EQ(run.heredocs[0].name, "EOF");
  EXPECT_EQ(run.heredocs[0].content, "apt-get update\napt-get install -y x\n");
  EXPECT_TRUE(run.heredocs[0].expand);
  EXPECT_FALSE(run.heredocs[0].strip_tabs);
  EXPECT_EQ(df.instructions[2].line, 6);
}

TEST(DockerfileHeredoc, DashStripsLeadingTabs) {
  auto df = MustParse("FROM a\nRUN <<-EOF\n\tindented\n\t\tmore\n  spaces\n\tEOF\n");
  ASSERT_EQ(df.instructions.size(), 2u);
  ASSERT_EQ(df.instructions[1].heredocs.size(), 1u);
  const Heredoc& h = df.instructions[1].heredocs[0];
  EXPECT_TRUE(h.strip_tabs);
  EXPECT_EQ(h.content, "indented\nmore\n  spaces\n");
}

TEST(DockerfileHeredoc, QuotedDelimiterDisablesExpansion) {
  auto df = MustParse(
      "FROM a\nRUN <<\"EOF\"\n$A\nEOF\nRUN <<'EOF'\n$B\nEOF\n"
      "RUN <<E\"O\"F\n$C\nEOF\nRUN << EOF\n$D\nEOF\n");
  ASSERT_EQ(df.instructions.size(), 5u);
  const char* contents[] = {"$A\n", "$B\n", "$C\n", "$D\n"};
  for (int i = 0; i < 4; ++i) {
    const auto& heredocs = df.instructions[i + 1].heredocs;
    ASSERT_EQ(heredocs.size(), 1u) << i;
    EXPECT_EQ(heredocs[0].name, "EOF") << i;
    EXPECT_EQ(heredocs[0].content, contents[i]) << i;
    EXPECT_EQ(heredocs[0].expand, i == 3) << i;
  }
}

TEST(DockerfileHeredoc, MultipleOnOneLine) {
  auto df = MustParse("FROM a\nRUN cat <<A >a && cat <<-'B' >b\none\nA\n\ttwo $X\n\tB\nUSER u\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  const auto& heredocs = df.instructions[1].heredocs;
  ASSERT_EQ(heredocs.size(), 2u);
  EXPECT_EQ(heredocs[0].name, "A");
  EXPECT_EQ(heredocs[0].content, "one\n");
  EXPECT_TRUE(heredocs[0].expand);
  EXPECT_EQ(heredocs[1].name, "B");
  EXPECT_EQ(heredocs[1].content, "two $X\n");
  EXPECT_FALSE(heredocs[1].expand);
  EXPECT_TRUE(heredocs[1].strip_tabs);
  EXPECT_EQ(df.instructions[2].line, 7);
}

TEST(DockerfileHeredoc, CopyHeredocAsFileContent) {
  auto df = MustParse("FROM a\nCOPY --chmod=600 <<EOF /etc/app.conf\nkey=$V\nEOF\n");
  ASSERT_EQ(df.instructions.size(), 2u);
  const Instruction& copy = df.instructions[1];
  EXPECT_EQ(copy.args, (Strings{"<<EOF", "/etc/app.conf"}));
  ASSERT_EQ(copy.heredocs.size(), 1u);
  EXPECT_EQ(copy.heredocs[0].content, "key=$V\n");
  EXPECT_EQ(HeredocReference(copy.args[0]), "EOF");
  EXPECT_EQ(HeredocReference("<<-'EOF'"), "EOF");
  EXPECT_EQ(HeredocReference("/etc/app.conf"), std::nullopt);
  EXPECT_EQ(HeredocReference("<<"), std::nullopt);
}

TEST(DockerfileHeredoc, BodyIsVerbatimAndCrlfTerminatorMatches) {
  auto df = MustParse("FROM a\nRUN <<EOF\r\n# not a comment\r\nFROM x \\\r\n\r\nEOF\r\nRUN b\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  ASSERT_EQ(df.instructions[1].heredocs.size(), 1u);
  EXPECT_EQ(df.instructions[1].heredocs[0].content, "# not a comment\r\nFROM x \\\r\n\r\n");
  EXPECT_EQ(df.instructions[2].line, 7);
}

TEST(DockerfileHeredoc, NotInJsonFormQuotesOrOtherInstructions) {
  auto df = MustParse(
      "FROM a\nRUN [\"sh\", \"-c\", \"cat <<EOF\"]\nRUN echo \"<<EOF\"\n"
      "CMD cat <<EOF\nRUN echo a<<b\n");
  ASSERT_EQ(df.instructions.size(), 5u);
  for (const auto& ins : df.instructions) EXPECT_TRUE(ins.heredocs.empty()) << ins.line;
}

TEST(DockerfileHeredoc, HeredocAfterContinuation) {
  auto df = MustParse("FROM a\nRUN python3 <<PY \\\n  && echo done\nprint(1)\nPY\n");
  ASSERT_EQ(df.instructions.size(), 2u);
  EXPECT_EQ(df.instructions[1].raw_args, "python3 <<PY   && echo done");
  ASSERT_EQ(df.instructions[1].heredocs.size(), 1u);
  EXPECT_EQ(df.instructions[1].heredocs[0].content, "print(1)\n");
}

TEST(DockerfileHeredoc, Errors) {
  EXPECT_EQ(ParseError("FROM a\nRUN <<EOF\nabc\n"), "line 2: unterminated heredoc EOF");
  EXPECT_EQ(ParseError("FROM a\nCOPY a <<EOF\nx\nEOF\n"),
            "line 2: COPY cannot accept a heredoc as a destination");
}

TEST(DockerfileHeredoc, ExpandHeredocKeepsQuotes) {
  auto r = ExpandHeredoc("echo \"$V\" '$V' \\$V ${U:-\"x y\"}\n", {{"V", "1"}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "echo \"1\" '1' $V \"x y\"\n");
}

// --- ONBUILD ---

TEST(DockerfileOnbuild, WrapsTrigger) {
  auto df = MustParse("FROM a\nonbuild COPY --from=x a /b\nONBUILD RUN <<EOF\nmake\nEOF\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  const Instruction& ob = df.instructions[1];
  EXPECT_EQ(ob.keyword, "ONBUILD");
  EXPECT_EQ(ob.raw_args, "COPY --from=x a /b");
  ASSERT_NE(ob.onbuild, nullptr);
  EXPECT_EQ(ob.onbuild->keyword, "COPY");
  EXPECT_EQ(ob.onbuild->args, (Strings{"a", "/b"}));
  ASSERT_EQ(ob.onbuild->flags.size(), 1u);
  EXPECT_EQ(ob.onbuild->flags[0].value, "x");
  EXPECT_EQ(ob.onbuild->line, 2);

  const Instruction& run = df.instructions[2];
  EXPECT_TRUE(run.heredocs.empty());
  ASSERT_EQ(run.onbuild->heredocs.size(), 1u);
  EXPECT_EQ(run.onbuild->heredocs[0].content, "make\n");

  Instruction copy = ob;  // deep copy
  ASSERT_NE(copy.onbuild, nullptr);
  EXPECT_NE(copy.onbuild.get(), ob.onbuild.get());
  EXPECT_EQ(copy.onbuild->args, ob.onbuild->args);
}

TEST(DockerfileOnbuild, ForbiddenTriggers) {
  EXPECT_EQ(ParseError("FROM a\nONBUILD ONBUILD RUN x\n"),
            "line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  EXPECT_EQ(ParseError("FROM a\nONBUILD FROM x\n"),
            "line 2: FROM isn't allowed as an ONBUILD trigger");
  EXPECT_EQ(ParseError("FROM a\nONBUILD\n"), "line 2: ONBUILD requires at least one argument");
  EXPECT_EQ(ParseError("FROM a\nONBUILD COPY x\n"),
            "line 2: COPY requires at least two arguments, but only one was provided. "
            "Destination could not be determined");
}

// --- Errors and stages ---

TEST(DockerfileErrors, UnknownInstruction) {
  EXPECT_EQ(ParseError("FROM a\n\nRUNN x\n"), "line 3: unknown instruction: RUNN");
  EXPECT_EQ(ParseError("FROM a\nONBUILD frob x\n"), "line 2: unknown instruction: frob");
}

TEST(DockerfileErrors, MissingArguments) {
  EXPECT_EQ(ParseError("FROM\n"), "line 1: FROM requires either one or three arguments");
  EXPECT_EQ(ParseError("FROM a\nCOPY src\n"),
            "line 2: COPY requires at least two arguments, but only one was provided. "
            "Destination could not be determined");
  EXPECT_EQ(ParseError("FROM a\nADD [\"src\"]\n"),
            "line 2: ADD requires at least two arguments, but only one was provided. "
            "Destination could not be determined");
  const std::pair<const char*, const char*> cases[] = {
      {"RUN", "RUN requires at least one argument"},
      {"EXPOSE", "EXPOSE requires at least one argument"},
      {"VOLUME", "VOLUME requires at least one argument"},
      {"ENV", "ENV requires at least one argument"},
      {"LABEL", "LABEL requires at least one argument"},
      {"ARG", "ARG requires at least one argument"},
      {"HEALTHCHECK", "HEALTHCHECK requires at least one argument"},
      {"USER", "USER requires exactly one argument"},
      {"WORKDIR", "WORKDIR requires exactly one argument"},
      {"STOPSIGNAL", "STOPSIGNAL requires exactly one argument"},
      {"MAINTAINER", "MAINTAINER requires exactly one argument"},
  };
  for (const auto& [keyword, message] : cases) {
    EXPECT_EQ(ParseError(std::string("FROM a\n") + keyword + "  \n"),
              std::string("line 2: ") + message);
  }
}

TEST(DockerfileErrors, LineIsWhereTheInstructionStarts) {
  EXPECT_EQ(ParseError("FROM a\n\n# c\nCOPY \\\n  onlyone\n"),
            "line 4: COPY requires at least two arguments, but only one was provided. "
            "Destination could not be determined");
}

TEST(DockerfileErrors, NoInstructions) {
  EXPECT_EQ(ParseError(""), "line 1: file with no instructions");
  EXPECT_EQ(ParseError("# just\n\n# comments\n"), "line 3: file with no instructions");
}

TEST(DockerfileErrors, EnvSyntax) {
  EXPECT_EQ(ParseError("FROM a\nENV A\n"), "line 2: ENV must have two arguments");
  EXPECT_EQ(ParseError("FROM a\nLABEL a=b c\n"),
            "line 2: Syntax error - can't find = in \"c\". Must be of the form: name=value");
  EXPECT_EQ(ParseError("FROM a\nENV =1\n"), "line 2: ENV names can not be blank");
  EXPECT_EQ(ParseError("FROM a\nARG =1\n"), "line 2: ARG names can not be blank");
}

TEST(DockerfileStages, OnlyArgBeforeFrom) {
  auto df = MustParse("ARG BASE=alpine\nARG TAG\nFROM ${BASE}:${TAG} AS Build-1\nARG TAG\n");
  ASSERT_EQ(df.instructions.size(), 4u);
  EXPECT_EQ(df.instructions[0].keyword, "ARG");
  EXPECT_EQ(df.instructions[0].args, Strings{"BASE=alpine"});
  EXPECT_EQ(df.instructions[2].args, (Strings{"${BASE}:${TAG}", "AS", "Build-1"}));
  EXPECT_EQ(ParseError("ARG X\nRUN x\nFROM a\n"),
            "line 2: RUN before the first FROM: only ARG may precede it");
}

TEST(DockerfileStages, FromForms) {
  EXPECT_EQ(ParseError("FROM a AS 1x\n"),
            "line 1: invalid name for build stage: \"1x\", name can't start with a number or "
            "contain symbols");
  EXPECT_EQ(ParseError("FROM a b\n"), "line 1: FROM requires either one or three arguments");
  EXPECT_EQ(ParseError("FROM a as b c\n"), "line 1: FROM requires either one or three arguments");
}

TEST(DockerfileHealthcheck, Forms) {
  auto df = MustParse(
      "FROM a\nHEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/ || exit 1\n"
      "HEALTHCHECK NONE\nHEALTHCHECK CMD [\"/bin/check\", \"-q\"]\n");
  ASSERT_EQ(df.instructions.size(), 4u);
  EXPECT_EQ(df.instructions[1].args, (Strings{"CMD", "curl -f http://x/ || exit 1"}));
  EXPECT_FALSE(df.instructions[1].json_form);
  ASSERT_EQ(df.instructions[1].flags.size(), 2u);
  EXPECT_EQ(df.instructions[1].flags[0].name, "interval");
  EXPECT_EQ(df.instructions[1].flags[0].value, "5s");
  EXPECT_EQ(df.instructions[2].args, Strings{"NONE"});
  EXPECT_TRUE(df.instructions[3].json_form);
  EXPECT_EQ(df.instructions[3].args, (Strings{"CMD", "/bin/check", "-q"}));
  EXPECT_EQ(ParseError("FROM a\nHEALTHCHECK FOO x\n"),
            "line 2: Unknown type \"FOO\" in HEALTHCHECK (try CMD)");
  EXPECT_EQ(ParseError("FROM a\nHEALTHCHECK CMD\n"),
            "line 2: Missing command after HEALTHCHECK CMD");
  EXPECT_EQ(ParseError("FROM a\nHEALTHCHECK NONE x\n"),
            "line 2: HEALTHCHECK NONE takes no arguments");
}

// --- Key/value parsing ---

Instruction Single(std::string_view line) {
  auto df = MustParse("FROM a\n" + std::string(line) + "\n");
  EXPECT_EQ(df.instructions.size(), 2u);
  return df.instructions.size() == 2 ? df.instructions[1] : Instruction{};
}

TEST(DockerfileKeyValues, EnvPairsAreExpanded) {
  Env env = {{"X", "unused"}, {"X", ""}, {"HOME", "/root"}};
  auto pairs =
      ParseKeyValues(Single("ENV A=1 B=\"two  words\" C=${X:-d} 'E'=$HOME/x D="), env, '\\');
  ASSERT_TRUE(pairs.ok()) << pairs.status().message();
  EXPECT_EQ(*pairs,
            (Pairs{{"A", "1"}, {"B", "two  words"}, {"C", "d"}, {"E", "/root/x"}, {"D", ""}}));
}

TEST(DockerfileKeyValues, LegacyForm) {
  auto pairs = ParseKeyValues(Single("ENV PATH   /usr/local/bin:$PATH \"and  more\""),
                              {{"PATH", "/bin"}}, '\\');
  ASSERT_TRUE(pairs.ok()) << pairs.status().message();
  EXPECT_EQ(*pairs, (Pairs{{"PATH", "/usr/local/bin:/bin and  more"}}));
}

TEST(DockerfileKeyValues, ValuesDoNotSeeTheirOwnInstruction) {
  // Docker expands the whole instruction against the env before it.
  auto pairs = ParseKeyValues(Single("ENV A=2 B=$A"), {{"A", "1"}}, '\\');
  ASSERT_TRUE(pairs.ok()) << pairs.status().message();
  EXPECT_EQ(*pairs, (Pairs{{"A", "2"}, {"B", "1"}}));
}

TEST(DockerfileKeyValues, LabelEscapesAndQuotedKeys) {
  auto pairs = ParseKeyValues(Single("LABEL desc=hello\\ world \"k 2\"=v"), {}, '\\');
  ASSERT_TRUE(pairs.ok()) << pairs.status().message();
  EXPECT_EQ(*pairs, (Pairs{{"desc", "hello world"}, {"k 2", "v"}}));

  auto df = MustParse("# escape=`\nFROM a\nLABEL a=x` y b=C:\\dir\n");
  ASSERT_EQ(df.instructions.size(), 2u);
  auto backtick = ParseKeyValues(df.instructions[1], {}, df.escape);
  ASSERT_TRUE(backtick.ok()) << backtick.status().message();
  EXPECT_EQ(*backtick, (Pairs{{"a", "x y"}, {"b", "C:\\dir"}}));
}

TEST(DockerfileKeyValues, ArgDeclarations) {
  Instruction arg = Single("ARG A B=1 C= D=${B}x $K=v");
  auto decls = ParseArgDecls(arg, {{"B", "9"}}, '\\');
  ASSERT_TRUE(decls.ok()) << decls.status().message();
  ASSERT_EQ(decls->size(), 5u);
  EXPECT_EQ((*decls)[0].name, "A");
  EXPECT_EQ((*decls)[0].default_value, std::nullopt);
  EXPECT_EQ((*decls)[1].default_value, "1");
  EXPECT_EQ((*decls)[2].default_value, "");
  // Later defaults see earlier ones from the same ARG, not the outer B=9.
  EXPECT_EQ((*decls)[3].default_value, "1x");
  EXPECT_EQ((*decls)[3].raw_default, "${B}x");
  EXPECT_EQ((*decls)[4].name, "$K");  // ARG names are not expanded
  auto pairs = ParseKeyValues(arg, {{"B", "9"}}, '\\');
  ASSERT_TRUE(pairs.ok());
  EXPECT_EQ(*pairs, (Pairs{{"A", ""}, {"B", "1"}, {"C", ""}, {"D", "1x"}, {"$K", "v"}}));
}

TEST(DockerfileKeyValues, ErrorsCarryTheLine) {
  auto run = ParseKeyValues(Single("RUN x"), {}, '\\');
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().message(), "line 2: RUN has no key/value pairs");
  auto required = ParseKeyValues(Single("ENV A=${U:?unset}"), {}, '\\');
  ASSERT_FALSE(required.ok());
  EXPECT_EQ(required.status().message(), "line 2: failed to process \"${U:?unset}\": U: unset");
}

// --- Shell lexer ---

TEST(ShellLexExpand, PlainAndBraced) {
  Env env = {{"V", "old"}, {"V", "val"}, {"E", ""}};
  EXPECT_EQ(Expand("$V/${V}/$U/${U}x", env), "val/val//x");
  EXPECT_EQ(Expand("a$", env), "a$");
  EXPECT_EQ(Expand("$.x", env), "$.x");
  EXPECT_EQ(Expand("$1x|$@|${10}|$Vé", env), "x|||");
}

TEST(ShellLexExpand, DefaultAndAlternativeOperators) {
  Env env = {{"E", ""}, {"V", "v"}};
  EXPECT_EQ(Expand("${E:-d}|${E-d}|${U-d}|${U:-d}|${V:-d}", env), "d||d|d|v");
  EXPECT_EQ(Expand("${E:+a}|${E+a}|${U+a}|${V:+a}|${V+a}", env), "|a||a|a");
  EXPECT_EQ(Expand("${U:-${E:-${V}}}|${V:+${V}:}", env), "v|v:");
  EXPECT_EQ(Expand("${U:-\"a  b\"}|${U:-'$V'}", env), "a  b|$V");
}

TEST(ShellLexExpand, RequiredOperator) {
  Env env = {{"E", ""}, {"V", "v"}};
  EXPECT_EQ(Expand("${V:?}${V?}${E?}", env), "vv");
  EXPECT_EQ(ExpandError("${U:?must be set}", env),
            "failed to process \"${U:?must be set}\": U: must be set");
  EXPECT_EQ(ExpandError("${E:?}", env),
            "failed to process \"${E:?}\": E: is not allowed to be empty");
  EXPECT_EQ(ExpandError("${U?}", env),
            "failed to process \"${U?}\": U: is not allowed to be unset");
}

TEST(ShellLexExpand, QuotesAndEscapes) {
  Env env = {{"V", "1"}};
  EXPECT_EQ(Expand("'$V' \"$V\" \"a\\\"b\" \"\\t\" \\t \\$V", env), "$V 1 a\"b \\t t $V");
  EXPECT_EQ(Expand("he'll'o \"it's\" 'say \"hi\"'", env), "hello it's say \"hi\"");
  EXPECT_EQ(Expand("trailing\\", env), "trailing");
  EXPECT_EQ(Expand("a`$V C:\\path \"`\"\"", env, '`'), "a$V C:\\path \"");
}

TEST(ShellLexExpand, SyntaxErrors) {
  EXPECT_EQ(ExpandError("${V", {}), "failed to process \"${V\": syntax error: missing '}'");
  EXPECT_EQ(ExpandError("${}", {}), "failed to process \"${}\": syntax error: bad substitution");
  EXPECT_EQ(ExpandError("\"abc", {}),
            "failed to process \"\"abc\": unexpected end of statement while looking for matching "
            "double-quote");
  EXPECT_EQ(ExpandError("'abc", {}),
            "failed to process \"'abc\": unexpected end of statement while looking for matching "
            "single-quote");
  EXPECT_EQ(ExpandError("${V:=x}", {}),
            "failed to process \"${V:=x}\": unsupported modifier (:=) in substitution");
  EXPECT_EQ(ExpandError("${V:-a", {}), "failed to process \"${V:-a\": syntax error: missing '}'");
}

// Found by fuzz/shell_expand (a timeout): nested substitutions multiply
// their sizes (each level replaces every character of P by the level below),
// so a short line asked for gigabytes and hours. Words and the matcher's
// work are bounded and the error says so.
TEST(ShellLexExpand, NestedSubstitutionsAreBounded) {
  Env env = {{"P", std::string(64, 'p')}};
  auto start = std::chrono::steady_clock::now();
  std::string nested = "$P";
  for (int i = 0; i < 6; ++i) nested = "${P//p/" + nested + "}";
  EXPECT_NE(ExpandError(nested, env).find("larger than its limit of 1 MiB"), std::string::npos)
      << ExpandError(nested, env);
  // A huge pattern against a long value: refused before the matcher's memo is made.
  std::string wide = "${P//" + std::string(3000, '?') + "/x}";
  Env long_value = {{"P", std::string(4000, 'p')}};
  EXPECT_NE(ExpandError(wide, long_value).find("beyond the matcher's limit"), std::string::npos)
      << ExpandError(wide, long_value);
  // Ordinary nesting still works.
  EXPECT_EQ(Expand("${P//p/${P%ppppp*}}", {{"P", "pp"}}), "pppp");
  EXPECT_EQ(Expand("${P//p/<${Q:-q}>}", {{"P", "pp"}}), "<q><q>");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(ShellLexExpand, PatternOperators) {
  Env env = {{"S", "/usr/lib/a.tar.gz"}, {"P", "*."}};
  EXPECT_EQ(Expand("${S#*/}|${S##*/}|${S%.*}|${S%%.*}", env),
            "usr/lib/a.tar.gz|a.tar.gz|/usr/lib/a.tar|/usr/lib/a");
  EXPECT_EQ(Expand("${S/a/X}|${S//a/X}|${S//\\//-}|${S/#/X}", env),
            "/usr/lib/X.tar.gz|/usr/lib/X.tXr.gz|-usr-lib-a.tar.gz|/usr/lib/a.tar.gz");
  EXPECT_EQ(Expand("${S##$P}|${S#\\*}|${U#x}", env), "gz|/usr/lib/a.tar.gz|");
  EXPECT_EQ(Expand("${S/lib*a/_}", env), "/usr/_r.gz");  // leftmost, then greedy
}

TEST(ShellLexWords, SplitsLikeProcessWords) {
  Env env = {{"SP", " x  y "}};
  auto words = ExpandWords("a  b \"c  d\" e\\ f ${SP} \"${SP}\" ''", env, '\\');
  ASSERT_TRUE(words.ok()) << words.status().message();
  EXPECT_EQ(*words, (Strings{"a", "b", "c  d", "e f", "x", "y", " x  y "}));
  auto glued = ExpandWords("pre${SP}post", env, '\\');
  ASSERT_TRUE(glued.ok());
  EXPECT_EQ(*glued, (Strings{"pre", "x", "y", "post"}));
  auto empty = ExpandWords("  \t ", env, '\\');
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ShellLexWords, ModifierKeepsTheWordsPrefix) {
  // Current BuildKit loses "ab" here (its nested scan clears a shared word
  // buffer); we keep the prefix, as Docker's classic builder did.
  auto words = ExpandWords("ab${U:-c d}e f", {}, '\\');
  ASSERT_TRUE(words.ok()) << words.status().message();
  EXPECT_EQ(*words, (Strings{"abc", "de", "f"}));
  auto bad = ExpandWords("a \"b", {}, '\\');
  EXPECT_FALSE(bad.ok());
}

TEST(ShellLexReferenced, CollectsNamesInOrder) {
  EXPECT_EQ(ReferencedVariables("$A ${B:-$C} '$D' \\$E \"${F}\" ${A} ${G#$H}", '\\'),
            (Strings{"A", "C", "B", "F", "H", "G"}));
  EXPECT_EQ(ReferencedVariables("`$A $B", '`'), Strings{"B"});
  EXPECT_EQ(ReferencedVariables("no vars here", '\\'), Strings{});
  // Malformed text still reports what was seen before the error.
  EXPECT_EQ(ReferencedVariables("$X ${Y", '\\'), Strings{"X"});
  // ${V:?} would fail to expand, but scanning never does.
  EXPECT_EQ(ReferencedVariables("${V:?}", '\\'), Strings{"V"});
}

}  // namespace
}  // namespace drydock::builder
