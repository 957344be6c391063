#include "gotemplate/template.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace {

using drydock::Code;
using drydock::gotemplate::RenderTemplate;
using json = nlohmann::json;

// The rendered text, or "ERROR: <message>" so that a failure shows what went wrong.
std::string Render(std::string_view source, const json& data = json::object()) {
  auto r = RenderTemplate(source, data);
  if (!r.ok()) return "ERROR: " + r.status().message();
  return *r;
}

// The error message (which must be kInvalid), or "OK: <output>" when rendering succeeded.
std::string Error(std::string_view source, const json& data = json::object()) {
  auto r = RenderTemplate(source, data);
  if (r.ok()) return "OK: " + *r;
  EXPECT_EQ(r.status().code(), Code::kInvalid) << r.status().message();
  return r.status().message();
}

const json kData = json::parse(R"({
  "Run": {"ID": "ca1", "Registry": "r:5000"},
  "Values": {"name": "name", "tag": "v2", "empty": "", "zero": 0, "nothing": null,
             "a": {"b": {"c": "deep"}}, "port": 8080, "ratio": 0.5, "whole": 2.0,
             "on": true, "off": false},
  "list": ["a", "b", "c"],
  "nums": [3, 1, 2],
  "map": {"z": 26, "a": 1, "m": 13},
  "prefix": "p"
})");

TEST(TemplateTest, TextPassesThrough) {
  EXPECT_EQ(Render(""), "");
  EXPECT_EQ(Render("plain: text\n  - {not an action} }} {\n"),
            "plain: text\n  - {not an action} }} {\n");
  EXPECT_EQ(Render("héllo {{\"wörld\"}}"), "héllo wörld");
}

TEST(TemplateTest, TrimMarkersEatAdjacentWhitespace) {
  EXPECT_EQ(Render("a  \n\t {{- \"x\" -}} \n  b"), "axb");
  EXPECT_EQ(Render("a  {{- \"x\"}}  b"), "ax  b");
  EXPECT_EQ(Render("a  {{\"x\" -}}  b"), "a  xb");
  EXPECT_EQ(Render("{{-3}}"), "-3");  // a negative number, not a trim marker
  EXPECT_EQ(Render("{{3 -}}\n\n4"), "34");
  EXPECT_EQ(Render("{{3  -}} 4"), "34");
  EXPECT_EQ(Render("steps:\n{{- range .list}}\n  - {{.}}\n{{- end}}\n", kData),
            "steps:\n  - a\n  - b\n  - c\n");
}

TEST(TemplateTest, CommentsRenderNothing) {
  EXPECT_EQ(Render("a{{/* a comment */}}b"), "ab");
  EXPECT_EQ(Render("a{{/* spans\nlines {{ .X }} */}}b"), "ab");
  EXPECT_EQ(Render("a \n{{- /* trimmed */ -}}\n b"), "ab");
}

TEST(TemplateTest, FieldsAndMissingKeys) {
  EXPECT_EQ(Render("{{.Run.ID}}@{{.Run.Registry}}", kData), "ca1@r:5000");
  EXPECT_EQ(Render("[{{.Values.missing}}]", kData), "[]");
  EXPECT_EQ(Render("[{{.Values.nothing}}]", kData), "[]");
  EXPECT_EQ(Render("[{{.Nope.Values.missing}}]", kData), "[]");
  EXPECT_EQ(Render("[{{.Values.missing.deeper.still}}]", kData), "[]");
  EXPECT_EQ(Render("{{.Values.a.b.c}}", kData), "deep");
  EXPECT_EQ(Render("{{.Values.a.b}}", kData), "map[c:deep]");
  EXPECT_EQ(Render("{{.}}", json("dot")), "dot");
  EXPECT_EQ(Render("[{{.}}]", json()), "[]");
  EXPECT_EQ(Render("{{(.Values).a.b.c}}", kData), "deep");
  EXPECT_EQ(Error("{{.Values.name.x}}", kData),
            "task.yaml:1:3: can't evaluate field x in type string");
  EXPECT_EQ(Error("{{.Values.name 1}}", kData),
            "task.yaml:1:3: name is not a method but has arguments");
}

TEST(TemplateTest, RootStaysReachableInsideRangeAndWith) {
  EXPECT_EQ(Render("{{range .list}}{{$.prefix}}{{.}} {{end}}", kData), "pa pb pc ");
  EXPECT_EQ(Render("{{with .Values.a}}{{.b.c}}/{{$.Run.ID}}{{end}}", kData), "deep/ca1");
}

TEST(TemplateTest, Variables) {
  EXPECT_EQ(Render("{{$x := \"a\"}}{{$x}}{{$x = \"b\"}}{{$x}}"), "ab");
  EXPECT_EQ(Render("{{$v := .Values}}{{$v.a.b.c}}", kData), "deep");
  // Assignment reaches the outer variable from inside a range.
  EXPECT_EQ(Render("{{$n := 0}}{{range .list}}{{$n = add $n 1}}{{end}}{{$n}}", kData), "3");
  // A variable declared in a block ends with it.
  EXPECT_EQ(Error("{{if true}}{{$y := 1}}{{end}}{{$y}}"),
            "task.yaml:1:32: undefined variable \"$y\"");
  EXPECT_EQ(Error("{{$z = 1}}"), "task.yaml:1:3: undefined variable \"$z\"");
  EXPECT_EQ(Render("{{if $t := .Values.tag}}{{$t}}{{end}}", kData), "v2");
  // A variable of an {{if}} is visible in its {{else if}} branches.
  EXPECT_EQ(Render("{{if $t := .Values.missing}}{{else if $t}}x{{else}}[{{$t}}]{{end}}", kData),
            "[]");
  // range can assign existing variables, which keep the last index and element.
  EXPECT_EQ(Render("{{$i := 0}}{{$v := 0}}{{range $i, $v = .list}}{{end}}{{$i}}{{$v}}", kData),
            "2c");
}

TEST(TemplateTest, Pipelines) {
  EXPECT_EQ(Render("{{ .Values.name | upper | quote }}", kData), "\"NAME\"");
  EXPECT_EQ(Render("{{ printf \"%s-%s\" (upper \"a\") (lower \"B\") }}"), "A-b");
  EXPECT_EQ(Render("{{ \"x\" | printf \"%s-%s\" \"y\" }}"), "y-x");  // piped value goes last
  EXPECT_EQ(Render("{{ (list 1 2) | len }}"), "2");
}

TEST(TemplateTest, Literals) {
  EXPECT_EQ(Render("{{\"a\\tb\\n\\\"q\\\" \\u00e9 \\x41\\101\"}}"), "a\tb\n\"q\" é AA");
  EXPECT_EQ(Render("{{`raw \\n {{ }}`}}"), "raw \\n {{ }}");
  EXPECT_EQ(Render("{{12}} {{-7}} {{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}}"),
            "12 -7 31 15 15 5 1000");
  EXPECT_EQ(Render("{{1.5}} {{2.0}} {{1e6}} {{1e-5}} {{123456.5}} {{.5}}"),
            "1.5 2 1e+06 1e-05 123456.5 0.5");
  EXPECT_EQ(Render("{{'a'}} {{'\\n'}} {{true}} {{false}}"), "97 10 true false");
  EXPECT_EQ(Render("{{print nil}}"), "<nil>");
  EXPECT_EQ(Error("{{nil}}"), "task.yaml:1:3: nil is not a command");
}

TEST(TemplateTest, DefaultBothWays) {
  EXPECT_EQ(Render("{{ .Values.missing | default \"x\" }}", kData), "x");
  EXPECT_EQ(Render("{{ .Values.tag | default \"latest\" }}", kData), "v2");
  EXPECT_EQ(Render("{{ .Values.empty | default \"e\" }}", kData), "e");
  EXPECT_EQ(Render("{{ .Values.zero | default 5 }}", kData), "5");
  EXPECT_EQ(Render("{{ default \"d\" .Values.port }}", kData), "8080");
  EXPECT_EQ(Render("{{ default \"d\" }}"), "d");
}

TEST(TemplateTest, IfElseIfElse) {
  const std::string t = "{{if eq .n 1}}one{{else if eq .n 2}}two{{else}}many{{end}}";
  EXPECT_EQ(Render(t, {{"n", 1}}), "one");
  EXPECT_EQ(Render(t, {{"n", 2}}), "two");
  EXPECT_EQ(Render(t, {{"n", 3}}), "many");
  EXPECT_EQ(Render("{{if .Values.missing}}y{{else}}n{{end}}", kData), "n");
  // Go's truth: 0, "", false, nil, empty list and map are false.
  for (const char* v : {"0", "\"\"", "false", "null", "[]", "{}", "0.0"}) {
    EXPECT_EQ(Render("{{if .v}}T{{else}}F{{end}}", {{"v", json::parse(v)}}), "F") << v;
  }
  for (const char* v : {"1", "\"0\"", "true", "[0]", "{\"a\":0}", "-0.5"}) {
    EXPECT_EQ(Render("{{if .v}}T{{else}}F{{end}}", {{"v", json::parse(v)}}), "T") << v;
  }
}

TEST(TemplateTest, RangeOverListsMapsAndInts) {
  EXPECT_EQ(Render("{{range $i, $v := .list}}{{$i}}={{$v}};{{end}}", kData), "0=a;1=b;2=c;");
  EXPECT_EQ(Render("{{range $v := .list}}{{$v}}{{end}}", kData), "abc");
  EXPECT_EQ(Render("{{range $k, $v := .map}}{{$k}}:{{$v}} {{end}}", kData), "a:1 m:13 z:26 ");
  EXPECT_EQ(Render("{{range .map}}{{.}} {{end}}", kData), "1 13 26 ");
  EXPECT_EQ(Render("{{range 3}}{{.}}{{end}}"), "012");
  EXPECT_EQ(Render("{{range .Values.missing}}x{{else}}none{{end}}", kData), "none");
  EXPECT_EQ(Render("{{range .e}}x{{else}}empty{{end}}", {{"e", json::array()}}), "empty");
  EXPECT_EQ(Error("{{range .Values.name}}{{end}}", kData),
            "task.yaml:1:9: range can't iterate over name");
}

TEST(TemplateTest, WithElse) {
  EXPECT_EQ(Render("{{with .Values.tag}}tag={{.}}{{else}}none{{end}}", kData), "tag=v2");
  EXPECT_EQ(Render("{{with .Values.missing}}x{{else}}none:{{.Run.ID}}{{end}}", kData), "none:ca1");
  EXPECT_EQ(Render("{{with .Values.missing}}x{{else with .Values.tag}}{{.}}{{end}}", kData), "v2");
}

TEST(TemplateTest, BreakAndContinue) {
  EXPECT_EQ(Render("{{range .list}}{{if eq . \"b\"}}{{break}}{{end}}{{.}}{{end}}", kData), "a");
  EXPECT_EQ(Render("{{range .list}}{{if eq . \"b\"}}{{continue}}{{end}}{{.}}{{end}}", kData), "ac");
  EXPECT_EQ(Error("{{if true}}{{break}}{{end}}"), "task.yaml:1:12: {{break}} outside {{range}}");
}

TEST(TemplateTest, AndOrNot) {
  EXPECT_EQ(Render("{{and 1 0 2}}|{{and 1 2}}|{{or 0 \"\" \"x\"}}|{{or 0 \"\"}}|{{not true}}"),
            "0|2|x||false");
  // Short circuit: the deciding value stops evaluation, so these never fail.
  EXPECT_EQ(Render("{{and false (fail \"boom\")}}"), "false");
  EXPECT_EQ(Render("{{or .Values.tag (fail \"boom\")}}", kData), "v2");
  EXPECT_EQ(Render("{{if and .Values.on (not .Values.off)}}yes{{end}}", kData), "yes");
}

TEST(TemplateTest, Comparisons) {
  EXPECT_EQ(Render("{{eq 1 2 3 1}} {{eq \"a\" \"b\" \"c\"}} {{eq .Values.missing nil}}", kData),
            "true false true");
  EXPECT_EQ(Render("{{ne 1 2}} {{ne \"a\" \"a\"}} {{eq .Values.missing \"x\"}}", kData),
            "true false false");
  EXPECT_EQ(Render("{{lt 1 2}} {{lt 2 1}} {{gt .Values.port 80}} {{le 2 2}} {{ge 1 2}}", kData),
            "true false true true false");
  EXPECT_EQ(Render("{{lt \"a\" \"b\"}} {{eq 2 2.0}} {{lt 1 1.5}}"), "true true true");
  EXPECT_EQ(Error("{{eq 1 \"1\"}}"),
            "task.yaml:1:3: error calling eq: incompatible types for comparison");
  EXPECT_EQ(Error("{{lt true false}}"),
            "task.yaml:1:3: error calling lt: invalid type for comparison");
  EXPECT_EQ(Error("{{eq 1}}"), "task.yaml:1:3: error calling eq: missing argument for comparison");
}

TEST(TemplateTest, LenAndIndex) {
  EXPECT_EQ(Render("{{len .list}} {{len .map}} {{len \"héllo\"}} {{len .Values.missing}}", kData),
            "3 3 6 0");
  EXPECT_EQ(
      Render("{{index .list 1}} {{index .map \"m\"}} {{index .Values \"a\" \"b\" \"c\"}}", kData),
      "b 13 deep");
  EXPECT_EQ(Render("[{{index .map \"nope\"}}] {{index \"abc\" 1}}", kData), "[] 98");
  EXPECT_EQ(Render("{{slice .list 1}} {{slice \"hello\" 1 3}}", kData), "[b c] el");
  EXPECT_EQ(Error("{{len 3}}"), "task.yaml:1:3: error calling len: len of type int");
  EXPECT_EQ(Error("{{index .map 1}}", kData),
            "task.yaml:1:3: error calling index: value has type int; should be string");
}

TEST(TemplateTest, Printf) {
  EXPECT_EQ(Render("{{printf \"%s|%d|%v|%q|%f|%t|%%\" \"s\" 42 .list \"q\" 1.5 true}}", kData),
            "s|42|[a b c]|\"q\"|1.500000|true|%");
  EXPECT_EQ(Render("{{printf \"[%5d|%-5s|%05.1f|%x|%X|%o|%b|%c|%.2s|%+d]\" 42 \"ab\" 3.14159 255 "
                   "255 8 5 65 \"xyz\" 3}}"),
            "[   42|ab   |003.1|ff|FF|10|101|A|xy|+3]");
  EXPECT_EQ(Render("{{printf \"%v %v %v %v\" 2.0 0.1 1e21 .Values.missing}}", kData),
            "2 0.1 1e+21 <nil>");
  EXPECT_EQ(Render("{{printf \"%d %s\" \"x\"}}"), "%!d(string=x) %!s(MISSING)");
  EXPECT_EQ(Render("{{printf \"%d\" 1 2}}"), "1%!(EXTRA int=2)");
  EXPECT_EQ(Render("{{printf \"%T %T %T %T\" 1 \"a\" .list .map}}", kData),
            "int string []interface {} map[string]interface {}");
  EXPECT_EQ(Render("{{print 1 2 \"a\" 3}}|{{println 1 \"a\"}}|{{print .map}}", kData),
            "1 2a3|1 a\n|map[a:1 m:13 z:26]");
}

TEST(TemplateTest, PrintfArgumentIndexesAndStars) {
  EXPECT_EQ(Render("{{ printf \"%[2]s-%[1]s|%[3]d\" \"a\" \"b\" }}"), "b-a|%!d(BADINDEX)");
  EXPECT_EQ(Render("{{ printf \"%*d|%-*d|%.*f\" 4 7 -3 1 2 3.14159 }}"), "   7|1  |3.14");
}

TEST(TemplateTest, MissingValuesReadAsEmpty) {
  // Go would fail on nil for a string parameter; here a missing value is "".
  EXPECT_EQ(Render("[{{ .Values.missing | upper }}][{{ .Values.missing | quote }}]", kData),
            "[][]");
  EXPECT_EQ(Render("[{{ trim .Values.missing }}][{{ index .Values.missing \"k\" }}]", kData),
            "[][]");
  // fmt itself prints nil as Go does.
  EXPECT_EQ(Render("{{ printf \"%s|%v\" .Values.missing .Values.missing }}", kData),
            "%!s(<nil>)|<nil>");
}

TEST(TemplateTest, CaseFunctionsHandleNonAscii) {
  EXPECT_EQ(Render("{{ upper \"héllo ж\" }}|{{ lower \"ÀÉ Ж İ\" }}|{{ title \"élan über-café\" }}"),
            "HÉLLO Ж|àé ж i|Élan Über-Café");
}

TEST(TemplateTest, PrintsValuesLikeGo) {
  EXPECT_EQ(Render("{{.list}} {{.map}} {{.nums}}", kData), "[a b c] map[a:1 m:13 z:26] [3 1 2]");
  EXPECT_EQ(Render("{{.Values.ratio}} {{.Values.whole}} {{.Values.on}}", kData), "0.5 2 true");
  EXPECT_EQ(Render("{{list 1 nil \"x\" (list)}}"), "[1 <nil> x []]");
  EXPECT_EQ(Render("{{dict \"b\" 2 \"a\" (dict)}}"), "map[a:map[] b:2]");
}

TEST(TemplateTest, Base64AndHashes) {
  EXPECT_EQ(Render("{{ \"hello world\" | b64enc }}"), "aGVsbG8gd29ybGQ=");
  EXPECT_EQ(Render("{{ \"hello world\" | b64enc | b64dec }}"), "hello world");
  EXPECT_EQ(Render("[{{ .Values.missing | b64enc }}]", kData), "[]");
  EXPECT_EQ(Render("{{ sha256sum \"abc\" }}"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TemplateTest, ToJson) {
  EXPECT_EQ(Render("{{ toJson .map }}", kData), "{\"a\":1,\"m\":13,\"z\":26}");
  EXPECT_EQ(Render("{{ toJson .Values.name }}", kData), "\"name\"");
  EXPECT_EQ(Render("{{ toJson .Values.whole }} {{ toJson .Values.missing }}", kData), "2 null");
  EXPECT_EQ(Render("{{ toJson \"<a&b>\" }}"), "\"\\u003ca\\u0026b\\u003e\"");
  EXPECT_EQ(Render("{{ toPrettyJson (dict \"a\" (list 1)) }}"), "{\n  \"a\": [\n    1\n  ]\n}");
}

TEST(TemplateTest, StringFunctions) {
  EXPECT_EQ(Render("{{ replace \"-\" \"_\" \"a-b-c\" }}"), "a_b_c");
  EXPECT_EQ(Render("[{{ trim \"  x y \\n\" }}]"), "[x y]");
  EXPECT_EQ(Render("{{ trimAll \"$\" \"$$5.00$\" }}"), "5.00");
  EXPECT_EQ(Render("{{ trimPrefix \"v\" \"v1.2\" }} {{ trimSuffix \".0\" \"1.0\" }}"), "1.2 1");
  EXPECT_EQ(Render("{{ contains \"ell\" \"hello\" }} {{ hasPrefix \"he\" \"hello\" }} {{ hasSuffix "
                   "\"x\" \"hello\" }}"),
            "true true false");
  EXPECT_EQ(Render("{{ upper \"abc\" }} {{ lower \"ABC\" }} {{ title \"hello big-world\" }}"),
            "ABC abc Hello Big-World");
  EXPECT_EQ(Render("{{ repeat 3 \"ab\" }} {{ substr 1 3 \"hello\" }} {{ trunc 2 \"hello\" }} {{ "
                   "trunc -2 \"hello\" }}"),
            "ababab el he lo");
  EXPECT_EQ(Render("{{ nospace \" a b\\tc \" }} {{ squote \"x\" }} {{ quote \"a\\\"b\" 1 }}"),
            "abc 'x' \"a\\\"b\" \"1\"");
  EXPECT_EQ(Render("{{ cat \"a\" 1 nil \"b\" }} {{ toString 1.5 }} {{ splitList \",\" \"a,b\" }}"),
            "a 1 b 1.5 [a b]");
  EXPECT_EQ(Render("{{ (split \".\" \"1.2.3\")._1 }}"), "2");
}

TEST(TemplateTest, ListDictAndLogicFunctions) {
  EXPECT_EQ(Render("{{ join \",\" .list }} {{ join \"-\" (list 1 nil 2) }}", kData), "a,b,c 1-2");
  EXPECT_EQ(
      Render("{{ $d := dict \"k\" \"v\" \"n\" 1 }}{{ $d.k }}{{ $d.n }} {{ hasKey $d \"k\" }}"),
      "v1 true");
  EXPECT_EQ(Render("{{ ternary \"yes\" \"no\" true }} {{ false | ternary \"yes\" \"no\" }}"),
            "yes no");
  EXPECT_EQ(
      Render("{{ coalesce .Values.missing \"\" \"c\" }} {{ empty .Values.empty }} {{ empty 1 }}",
             kData),
      "c true false");
}

TEST(TemplateTest, IndentAndNindent) {
  EXPECT_EQ(Render("{{ indent 2 \"a\\nb\" }}"), "  a\n  b");
  EXPECT_EQ(Render("env:{{ \"A=1\\nB=2\" | nindent 4 }}"), "env:\n    A=1\n    B=2");
}

TEST(TemplateTest, Arithmetic) {
  EXPECT_EQ(Render("{{ add 1 2 3 }} {{ sub 5 7 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod 7 3 }}"),
            "6 -2 24 3 1");
  EXPECT_EQ(
      Render("{{ add1 .Values.port }} {{ max 1 5 3 }} {{ min 4 2 }} {{ add \"2\" 1.9 }}", kData),
      "8081 5 2 3");
  EXPECT_EQ(Render("{{ atoi \"42\" }} {{ atoi \"x\" }} {{ int \"0x10\" }} {{ int 3.9 }} {{ float64 "
                   "\"1.5\" }}"),
            "42 0 16 3 1.5");
  EXPECT_EQ(Error("{{ div 1 0 }}"),
            "task.yaml:1:4: error calling div: runtime error: integer divide by zero");
}

TEST(TemplateTest, AcrSample) {
  const std::string source =
      "version: v1.1.0\n"
      "steps:\n"
      "  - build: -t {{.Run.Registry}}/hello-world:{{.Run.ID}} .\n"
      "  - cmd: {{.Run.Registry}}/hello-world:{{.Run.ID}}\n"
      "  - push: [\"{{.Run.Registry}}/hello-world:{{.Values.tag | default \"latest\"}}\"]\n";
  const json data = json::parse(R"({"Run":{"Registry":"r:5000","ID":"ca1"},"Values":{}})");
  EXPECT_EQ(Render(source, data),
            "version: v1.1.0\n"
            "steps:\n"
            "  - build: -t r:5000/hello-world:ca1 .\n"
            "  - cmd: r:5000/hello-world:ca1\n"
            "  - push: [\"r:5000/hello-world:latest\"]\n");
}

TEST(TemplateTest, ParseErrorsNameLineAndColumn) {
  EXPECT_EQ(Error("version: v1\nsteps:\n  - cmd: a {{uper .Values.x}}\n"),
            "task.yaml:3:14: function \"uper\" not defined");
  EXPECT_EQ(Error("a: b\n    {{ .A\nc: d\n"), "task.yaml:2:5: unclosed action");
  EXPECT_EQ(Error("{{ .A\n{{ .B }}"), "task.yaml:1:1: unclosed action");
  EXPECT_EQ(Error("x\n{{if .a}}\ny\n"), "task.yaml:2:1: unexpected EOF: {{if}} has no {{end}}");
  EXPECT_EQ(Error("{{range .a}}{{else}}"),
            "task.yaml:1:1: unexpected EOF: {{range}} has no {{end}}");
  EXPECT_EQ(Error("a\n  {{ end }}"),
            "task.yaml:2:3: unexpected {{end}}: no {{if}}, {{range}} or {{with}} to end");
  EXPECT_EQ(Error("{{else}}"),
            "task.yaml:1:1: unexpected {{else}} outside {{if}}, {{range}} or {{with}}");
  EXPECT_EQ(Error("{{ \"a\\qb\" }}"),
            "task.yaml:1:6: bad string literal: unknown escape sequence \\q");
  EXPECT_EQ(Error("{{ \"abc }}"), "task.yaml:1:4: unterminated quoted string");
  EXPECT_EQ(Error("{{/* never closed"), "task.yaml:1:1: unclosed comment");
  EXPECT_EQ(Error("{{ $x }}"), "task.yaml:1:4: undefined variable \"$x\"");
  EXPECT_EQ(Error("{{ .a | \"x\" }}"), "task.yaml:1:9: non executable command in pipeline stage 2");
  EXPECT_EQ(Error("{{ }}"), "task.yaml:1:4: missing value for command");
  EXPECT_EQ(Error("{{ (upper \"a\" }}"), "task.yaml:1:4: unclosed left paren");
  EXPECT_EQ(Error("{{ 12abc }}"), "task.yaml:1:4: bad number syntax: \"12a\"");
  EXPECT_EQ(Error("{{ template \"x\" }}"), "task.yaml:1:4: {{template}} is not supported");
  EXPECT_EQ(Error("{{if 1}}{{else}}{{else}}{{end}}"),
            "task.yaml:1:17: expected {{end}} after {{else}}; found another {{else}}");
}

TEST(TemplateTest, ExecErrorsNameLineAndColumn) {
  EXPECT_EQ(Error("a\n{{ upper \"a\" \"b\" }}"),
            "task.yaml:2:4: wrong number of args for upper: want 1 got 2");
  EXPECT_EQ(Error("{{ \"a\" | replace \"x\" }}"),
            "task.yaml:1:10: wrong number of args for replace: want 3 got 2");
  EXPECT_EQ(Error("{{ printf }}"),
            "task.yaml:1:4: wrong number of args for printf: want at least 1 got 0");
  EXPECT_EQ(Error("x: y\nz: {{ index .list 5 }}", kData),
            "task.yaml:2:7: error calling index: index out of range: 5");
  EXPECT_EQ(Error("{{ upper 3 }}"),
            "task.yaml:1:4: error calling upper: wrong type for value; expected string; got int");
  EXPECT_EQ(Error("{{ fail \"stop here\" }}"), "task.yaml:1:4: error calling fail: stop here");
  EXPECT_EQ(Error("{{ $x := 1 }}{{ $x 2 }}"),
            "task.yaml:1:17: can't give argument to non-function $x");
}

TEST(TemplateTest, RunawayTemplatesFailCleanly) {
  std::string ok, deep;
  for (int i = 0; i < 100; ++i) ok += "{{if true}}";
  ok += "x";
  for (int i = 0; i < 100; ++i) ok += "{{end}}";
  EXPECT_EQ(Render(ok), "x");
  for (int i = 0; i < 101; ++i) deep += "{{if true}}";
  EXPECT_EQ(Error(deep), "task.yaml:1:1101: too deeply nested: more than 100 nested blocks");
  std::string parens = "{{";
  for (int i = 0; i < 101; ++i) parens += "(";
  EXPECT_EQ(Error(parens + "1" + std::string(101, ')') + "}}"),
            "task.yaml:1:103: too deeply nested: more than 100 nested blocks");
  // A long else-if chain is flat, not nested.
  std::string chain = "{{if false}}";
  for (int i = 0; i < 500; ++i) chain += "{{else if false}}";
  EXPECT_EQ(Render(chain + "{{else}}end{{end}}"), "end");

  EXPECT_EQ(Error("{{range 100}}{{repeat 1000000 \"x\"}}{{end}}"),
            "task.yaml:1:16: output is larger than 16 MiB");
  EXPECT_EQ(Error("{{ repeat 100000000 \"ab\" }}"),
            "task.yaml:1:4: error calling repeat: result is larger than 16 MiB");
  // A large string multiplied through a list runs out of the value budget before memory does.
  EXPECT_EQ(Error("{{ $x := repeat 16000000 \"x\" }}{{ list $x $x $x $x $x }}"),
            "task.yaml:1:46: template uses too much memory: more than 64 MiB of values");
  EXPECT_EQ(Error("{{range 2000000}}{{end}}"),
            "task.yaml:1:1: template runs too long: more than 1000000 evaluation steps");
}

}  // namespace
