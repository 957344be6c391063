// The functions templates can call: Go's builtins (and, or, not, len, index, slice, print,
// printf, println, eq, ne, lt, le, gt, ge) and the Sprig functions ACR task files use. Each
// follows the Go or Sprig function of the same name; parameters Go types as string, int or bool
// take nil as "", 0 or false (Go would fail), so a missing value reads as empty.
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>

#include "base/base64.h"
#include "gotemplate/internal.h"

namespace drydock::gotemplate::internal {
namespace {

constexpr int kVariadic = -1;

Status WrongType(std::string_view want, const Value& got) {
  return Invalid("wrong type for value; expected " + std::string(want) + "; got " + TypeName(got));
}

Status TooLarge() { return Invalid("result is larger than 16 MiB"); }

// ---- Parameters ----

// A Go `string` parameter.
Result<std::string> Str(const Value& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return std::string();
  return WrongType("string", v);
}

// A Go `int` parameter; a float holding a whole number is accepted too (YAML values often are).
Result<int64_t> Int(const Value& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::trunc(d) == d && std::fabs(d) < 9e18) return static_cast<int64_t>(d);
  }
  if (v.is_null()) return int64_t{0};
  return WrongType("int", v);
}

Result<bool> Bool(const Value& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_null()) return false;
  return WrongType("bool", v);
}

// cast.ToInt64, as Sprig's arithmetic uses it: anything convertible, else 0.
int64_t CastInt64(const Value& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    return std::isfinite(d) && std::fabs(d) < 9e18 ? static_cast<int64_t>(d) : 0;
  }
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (!v.is_string()) return 0;
  // cast trims a zero fraction ("3.00" -> "3") before strconv.ParseInt(s, 0, 0).
  std::string_view s = v.get_ref<const std::string&>();
  const size_t dot = s.find('.');
  if (dot != std::string_view::npos && dot + 1 < s.size() &&
      s.find_first_not_of('0', dot + 1) == std::string_view::npos) {
    s = s.substr(0, dot);
  }
  int64_t n = 0;
  return ParseGoInt(s, &n) == NumParse::kOk ? n : 0;
}

double CastFloat64(const Value& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  double d = 0;
  if (v.is_string() && ParseGoFloat(v.get_ref<const std::string&>(), &d) == NumParse::kOk) return d;
  return 0;
}

// Go's int64 arithmetic wraps; C++'s signed overflow must not happen.
int64_t Wrap(uint64_t u) { return static_cast<int64_t>(u); }

template <typename Pred>
std::string_view TrimRunes(std::string_view s, Pred drop) {
  size_t begin = 0;
  while (begin < s.size()) {
    size_t n;
    if (!drop(DecodeRune(s, begin, &n))) break;
    begin += n;
  }
  size_t end = s.size();
  while (end > begin) {
    size_t start = end - 1;  // back to the first byte of the last rune
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t n;
    const int32_t r = DecodeRune(s, start, &n);
    if (start + n != end) break;  // not one whole rune: keep it
    if (!drop(r)) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

// The strings Sprig's strslice makes of a value: a list's non-nil items, or the value itself.
Result<std::vector<std::string>> StrSlice(const Value& v) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (!v.is_array()) {
    DD_ASSIGN_OR_RETURN(s, StrVal(v));
    out.push_back(std::move(s));
    return out;
  }
  for (const Value& item : v) {
    if (item.is_null()) continue;
    DD_ASSIGN_OR_RETURN(s, StrVal(item));
    out.push_back(std::move(s));
  }
  return out;
}

// strings.Split: around each sep; an empty sep splits after each UTF-8 sequence.
std::vector<std::string> Split(std::string_view s, std::string_view sep) {
  std::vector<std::string> out;
  if (sep.empty()) {
    for (size_t i = 0; i < s.size();) {
      size_t n;
      DecodeRune(s, i, &n);
      out.emplace_back(s.substr(i, n));
      i += n;
    }
    return out;
  }
  size_t start = 0;
  for (size_t at; (at = s.find(sep, start)) != std::string_view::npos; start = at + sep.size()) {
    out.emplace_back(s.substr(start, at - start));
  }
  out.emplace_back(s.substr(start));
  return out;
}

// ---- Go builtins ----

Result<Value> FnNot(const Args& a) { return Value(!Truth(a[0])); }

Result<Value> FnLen(const Args& a) {
  const Value& v = a[0];
  if (v.is_string()) return Value(static_cast<int64_t>(v.get_ref<const std::string&>().size()));
  if (v.is_array() || v.is_object()) return Value(static_cast<int64_t>(v.size()));
  if (v.is_null()) return Value(int64_t{0});  // Go: "len of nil pointer"
  return Invalid("len of type " + TypeName(v));
}

// An index into something of length `len`, as Go's indexArg checks it (`len` itself is allowed
// for slice's upper bounds).
Result<int64_t> IndexArg(const Value& index, size_t len, bool allow_len) {
  if (index.is_null()) return Invalid("cannot index slice/array with nil");
  if (!index.is_number_integer()) {
    return Invalid("cannot index slice/array with type " + TypeName(index));
  }
  const bool huge = index.is_number_unsigned() && index.get<uint64_t>() > INT64_MAX;
  const int64_t x = huge ? -1 : index.get<int64_t>();
  if (huge || x < 0 || static_cast<uint64_t>(x) > len ||
      (!allow_len && static_cast<uint64_t>(x) == len)) {
    return Invalid("index out of range: " + index.dump());
  }
  return x;
}

// index X 1 2 is X[1][2]; a missing key gives nil, as does indexing nil (Go fails on that).
Result<Value> FnIndex(const Args& a) {
  const Value* cur = &a[0];
  Value byte;
  for (size_t i = 1; i < a.size(); ++i) {
    const Value& index = a[i];
    if (cur->is_null()) return Value();
    if (cur->is_array() || cur->is_string()) {
      const size_t len = cur->is_array() ? cur->size() : cur->get_ref<const std::string&>().size();
      DD_ASSIGN_OR_RETURN(x, IndexArg(index, len, false));
      if (cur->is_array()) {
        cur = &(*cur)[static_cast<size_t>(x)];
      } else {  // a string's byte, as Go's index gives it
        byte =
            static_cast<int64_t>(static_cast<unsigned char>(cur->get_ref<const std::string&>()[x]));
        cur = &byte;
      }
    } else if (cur->is_object()) {
      if (!index.is_string()) {
        return Invalid(index.is_null()
                           ? "value is nil; should be of type string"
                           : "value has type " + TypeName(index) + "; should be string");
      }
      auto it = cur->find(index.get_ref<const std::string&>());
      if (it == cur->end()) return Value();
      cur = &*it;
    } else {
      return Invalid("can't index item of type " + TypeName(*cur));
    }
  }
  return *cur;
}

// slice X 1 2 is X[1:2]; slice X 1 is X[1:].
Result<Value> FnSlice(const Args& a) {
  const Value& item = a[0];
  if (item.is_null()) return Value();
  if (a.size() > 4) return Invalid("too many slice indexes: " + std::to_string(a.size() - 1));
  if (!item.is_array() && !item.is_string()) {
    return Invalid("can't slice item of type " + TypeName(item));
  }
  if (item.is_string() && a.size() == 4) return Invalid("cannot 3-index slice a string");
  const size_t len = item.is_array() ? item.size() : item.get_ref<const std::string&>().size();
  int64_t idx[3] = {0, static_cast<int64_t>(len), static_cast<int64_t>(len)};
  for (size_t i = 1; i < a.size(); ++i) {
    DD_ASSIGN_OR_RETURN(x, IndexArg(a[i], len, true));
    idx[i - 1] = x;
  }
  if (idx[0] > idx[1] || idx[1] > idx[2]) {
    const bool first = idx[0] > idx[1];
    return Invalid("invalid slice index: " + std::to_string(first ? idx[0] : idx[1]) + " > " +
                   std::to_string(first ? idx[1] : idx[2]));
  }
  if (item.is_string()) {
    return Value(item.get_ref<const std::string&>().substr(idx[0], idx[1] - idx[0]));
  }
  Value out = Value::array();
  for (int64_t i = idx[0]; i < idx[1]; ++i) out.push_back(item[static_cast<size_t>(i)]);
  return out;
}

Result<Value> FnPrint(const Args& a) {
  DD_ASSIGN_OR_RETURN(s, Sprint(a, false));
  return Value(std::move(s));
}

Result<Value> FnPrintln(const Args& a) {
  DD_ASSIGN_OR_RETURN(s, Sprint(a, true));
  return Value(std::move(s));
}

Result<Value> FnPrintf(const Args& a) {
  DD_ASSIGN_OR_RETURN(format, Str(a[0]));
  DD_ASSIGN_OR_RETURN(s, Sprintf(format, a, 1));
  return Value(std::move(s));
}

enum class Basic { kNil, kBool, kNumber, kString, kOther };

Basic KindOf(const Value& v) {
  if (v.is_null()) return Basic::kNil;
  if (v.is_boolean()) return Basic::kBool;
  if (v.is_number()) return Basic::kNumber;
  if (v.is_string()) return Basic::kString;
  return Basic::kOther;
}

// Go's eq for two values; ints and floats compare by value (Go refuses to mix them).
Result<bool> Equal(const Value& a, const Value& b) {
  const Basic ka = KindOf(a), kb = KindOf(b);
  if (ka == Basic::kNil || kb == Basic::kNil) return ka == kb;
  if (ka != kb) return Invalid("incompatible types for comparison");
  if (ka == Basic::kOther) return Invalid("non-comparable type " + TypeName(a));
  return a == b;
}

Result<bool> Less(const Value& a, const Value& b) {
  const Basic ka = KindOf(a), kb = KindOf(b);
  for (Basic k : {ka, kb}) {
    if (k != Basic::kNumber && k != Basic::kString) {
      return Invalid("invalid type for comparison");
    }
  }
  if (ka != kb) return Invalid("incompatible types for comparison");
  return a < b;
}

// eq A B C… is A==B || A==C || ….
Result<Value> FnEq(const Args& a) {
  if (a.size() < 2) return Invalid("missing argument for comparison");
  for (size_t i = 1; i < a.size(); ++i) {
    DD_ASSIGN_OR_RETURN(equal, Equal(a[0], a[i]));
    if (equal) return Value(true);
  }
  return Value(false);
}

Result<Value> FnNe(const Args& a) {
  DD_ASSIGN_OR_RETURN(equal, Equal(a[0], a[1]));
  return Value(!equal);
}

Result<Value> FnLt(const Args& a) {
  DD_ASSIGN_OR_RETURN(less, Less(a[0], a[1]));
  return Value(less);
}

Result<Value> LessOrEqual(const Args& a, bool negate) {
  DD_ASSIGN_OR_RETURN(less, Less(a[0], a[1]));
  if (less) return Value(!negate);
  DD_ASSIGN_OR_RETURN(equal, Equal(a[0], a[1]));
  return Value(equal != negate);
}

Result<Value> FnLe(const Args& a) { return LessOrEqual(a, false); }
Result<Value> FnGt(const Args& a) { return LessOrEqual(a, true); }

Result<Value> FnGe(const Args& a) {
  DD_ASSIGN_OR_RETURN(less, Less(a[0], a[1]));
  return Value(!less);
}

// ---- Sprig: defaults and conditions ----

// default D V: V unless it is empty, else D.
Result<Value> FnDefault(const Args& a) {
  if (a.size() < 2 || !Truth(a[1])) return a[0];
  return a[1];
}

Result<Value> FnEmpty(const Args& a) { return Value(!Truth(a[0])); }

Result<Value> FnCoalesce(const Args& a) {
  for (const Value& v : a) {
    if (Truth(v)) return v;
  }
  return Value();
}

// ternary T F COND.
Result<Value> FnTernary(const Args& a) {
  DD_ASSIGN_OR_RETURN(cond, Bool(a[2]));
  return cond ? a[0] : a[1];
}

Result<Value> FnFail(const Args& a) {
  DD_ASSIGN_OR_RETURN(message, Str(a[0]));
  return Invalid(message);
}

// ---- Sprig: strings ----

Result<Value> FnQuote(const Args& a) {
  std::string out;
  for (const Value& v : a) {
    if (v.is_null()) continue;  // Sprig skips nil arguments
    DD_ASSIGN_OR_RETURN(s, StrVal(v));
    if (!out.empty()) out += ' ';
    out += GoQuote(s);
  }
  return Value(std::move(out));
}

Result<Value> FnSquote(const Args& a) {
  std::string out;
  for (const Value& v : a) {
    if (v.is_null()) continue;
    DD_ASSIGN_OR_RETURN(s, StrVal(v));
    if (!out.empty()) out += ' ';
    out += "'" + s + "'";
  }
  return Value(std::move(out));
}

// unicode.ToUpper and unicode.ToLower for the scripts task files plausibly hold: ASCII,
// Latin-1, Latin Extended-A, Greek and Cyrillic. Other characters keep their case.
int32_t UpperRune(int32_t r) {
  if (r >= 'a' && r <= 'z') return r - 32;
  if (r < 0x80) return r;
  if (r >= 0xE0 && r <= 0xFE && r != 0xF7) return r - 32;
  if (r == 0xFF) return 0x178;
  if (r == 0xB5) return 0x39C;
  if (r == 0x131) return 'I';
  if (r == 0x17F) return 'S';
  // Latin Extended-A pairs capital and small letters as even/odd, in two stretches odd/even.
  if ((r >= 0x100 && r <= 0x137) || (r >= 0x14A && r <= 0x177)) return r & ~1;
  if ((r >= 0x139 && r <= 0x148) || (r >= 0x179 && r <= 0x17E)) return r % 2 == 0 ? r - 1 : r;
  if (r == 0x3C2) return 0x3A3;
  if (r >= 0x3B1 && r <= 0x3C9) return r - 32;
  if (r >= 0x430 && r <= 0x44F) return r - 32;
  if (r >= 0x450 && r <= 0x45F) return r - 80;
  return r;
}

int32_t LowerRune(int32_t r) {
  if (r >= 'A' && r <= 'Z') return r + 32;
  if (r < 0x80) return r;
  if (r >= 0xC0 && r <= 0xDE && r != 0xD7) return r + 32;
  if (r == 0x130) return 'i';
  if (r == 0x178) return 0xFF;
  if ((r >= 0x100 && r <= 0x137) || (r >= 0x14A && r <= 0x177)) return r == 0x131 ? r : r | 1;
  if ((r >= 0x139 && r <= 0x148) || (r >= 0x179 && r <= 0x17E)) return r % 2 == 1 ? r + 1 : r;
  if (r >= 0x391 && r <= 0x3A9 && r != 0x3A2) return r + 32;
  if (r >= 0x410 && r <= 0x42F) return r + 32;
  if (r >= 0x400 && r <= 0x40F) return r + 80;
  return r;
}

// Applies `map` to every rune of s for which `when` (given the previous rune, or -1 at the
// start) holds; bytes that are not UTF-8 stay as they are.
template <typename Map, typename When>
std::string MapRunes(std::string_view s, Map map, When when) {
  std::string out;
  int32_t prev = -1;
  for (size_t i = 0; i < s.size();) {
    size_t n;
    const int32_t r = DecodeRune(s, i, &n);
    if (r < 0) {
      out += s[i];
    } else {
      AppendRune(out, when(prev) ? map(r) : r);
    }
    prev = r < 0 ? 0xFFFD : r;
    i += n;
  }
  return out;
}

Result<Value> FnUpper(const Args& a) {
  DD_ASSIGN_OR_RETURN(s, Str(a[0]));
  return Value(MapRunes(s, UpperRune, [](int32_t) { return true; }));
}

Result<Value> FnLower(const Args& a) {
  DD_ASSIGN_OR_RETURN(s, Str(a[0]));
  return Value(MapRunes(s, LowerRune, [](int32_t) { return true; }));
}

// strings.Title: the first letter of each word upper-cased, the rest left alone. Words are
// separated by ASCII characters other than letters, digits and '_', and by Unicode spaces.
Result<Value> FnTitle(const Args& a) {
  DD_ASSIGN_OR_RETURN(s, Str(a[0]));
  auto after_separator = [](int32_t prev) {
    if (prev < 0) return true;
    if (prev < 0x80) return !(std::isalnum(prev) || prev == '_');
    return IsSpaceRune(prev);
  };
  return Value(MapRunes(s, UpperRune, after_separator));
}

Result<Value> FnTrim(const Args& a) {
  DD_ASSIGN_OR_RETURN(s, Str(a[0]));
  return Value(std::string(TrimRunes(s, IsSpaceRune)));
}

// trimAll CUTSET S: strings.Trim(S, CUTSET).
Result<Value> FnTrimAll(const Args& a) {
  DD_ASSIGN_OR_RETURN(cutset, Str(a[0]));
  DD_ASSIGN_OR_RETURN(s, Str(a[1]));
  std::vector<int32_t> runes;
  for (size_t i = 0; i < cutset.size();) {
    size_t n;
    runes.push_back(DecodeRune(cutset, i, &n));
    i += n;
  }
  auto in_cutset = [&](int32_t r) {
    return r >= 0 && std::find(runes.begin(), runes.end(), r) != runes.end();
  };
  return Value(std::string(TrimRunes(s, in_cutset)));
}

Result<Value> FnTrimPrefix(const Args& a) {
  DD_ASSIGN_OR_RETURN(prefix, Str(a[0]));
  DD_ASSIGN_OR_RETURN(s, Str(a[1]));
  if (s.starts_with(prefix)) s.erase(0, prefix.size());
  return Value(std::move(s));
}

Result<Value> FnTrimSuffix(const Args& a) {
  DD_ASSIGN_OR_RETURN(suffix, Str(a[0]));
  DD_ASSIGN_OR_RETURN(s, Str(a[1]));
  if (s.ends_with(suffix)) s.resize(s.size() - suffix.size());
  return Value(std::move(s));
}

Result<Value> FnNospace(const Args& a) {
  DD_ASSIGN_OR_RETURN(s, Str(a[0]));
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t n;
    if (!IsSpaceRune(DecodeRune(s, i, &n))) out.append(s, i, n);
    i += n;
  }
  return Value(std::move(out));
}

// replace OLD NEW S: strings.Replace(S, OLD, NEW, -1).
Result<Value> FnReplace(const Args& a) {
  DD_ASSIGN_OR_RETURN(old_text, Str(a[0]));
  DD_ASSIGN_OR_RETURN(new_text, Str(a[1]));
  DD_ASSIGN_OR_RETURN(s, Str(a[2]));
  std::string out;
  auto append = [&](std::string_view piece) {
    out.append(piece);
    return out.size() <= kMaxStringBytes;
  };
  if (old_text.empty()) {  // NEW before every rune and at the end
    for (size_t i = 0; i < s.size();) {
      size_t n;
      DecodeRune(s, i, &n);
      if (!append(new_text) || !append(std::string_view(s).substr(i, n))) return TooLarge();
      i += n;
    }
    if (!append(new_text)) return TooLarge();
    return Value(std::move(out));
  }
  size_t start = 0;
  for (size_t at; (at = s.find(old_text, start)) != std::string::npos;
       start = at + old_text.size()) {
    if (!append(std::string_view(s).substr(start, at - start)) || !append(new_text)) {
      return TooLarge();
    }
  }
  if (!append(std::string_view(s).substr(start))) return TooLarge();
  return Value(std::move(out));
}

Result<Value> FnContains(const Args& a) {
  DD_ASSIGN_OR_RETURN(substr, Str(a[0]));
  DD_ASSIGN_OR_RETURN(s, Str(a[1]));
  return Value(s.find(substr) != std::string::npos);
}

Result<Value> FnHasPrefix(const Args& a) {
  DD_ASSIGN_OR_RETURN(prefix, Str(a[0]));
  DD_ASSIGN_OR_RETURN(s, Str(a[1]));
  return Value(s.starts_with(prefix));
}

Result<Value> FnHasSuffix(const Args& a) {
  DD_ASSIGN_OR_RETURN(suffix, Str(a[0]));
  DD_ASSIGN_OR_RETURN(s, Str(a[1]));
  return Value(s.ends_with(suffix));
}

Result<std::string> Repeat(std::string_view s, int64_t count) {
  if (count < 0) return Invalid("strings: negative Repeat count");
  if (!s.empty() && static_cast<uint64_t>(count) > kMaxStringBytes / s.size()) return TooLarge();
  std::string out;
  out.reserve(s.size() * static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out.append(s);
  return out;
}

// repeat COUNT S.
Result<Value> FnRepeat(const Args& a) {
  DD_ASSIGN_OR_RETURN(count, Int(a[0]));
  DD_ASSIGN_OR_RETURN(s, Str(a[1]));
  DD_ASSIGN_OR_RETURN(out, Repeat(s, count));
  return Value(std::move(out));
}

// substr START END S, in bytes, as Sprig slices: a negative START means S[:END], a negative or
// too large END means S[START:]. Where Go's slicing would panic this fails.
Result<Value> FnSubstr(const Args& a) {
  DD_ASSIGN_OR_RETURN(start, Int(a[0]));
  DD_ASSIGN_OR_RETURN(end, Int(a[1]));
  DD_ASSIGN_OR_RETURN(s, Str(a[2]));
  const auto len = static_cast<int64_t>(s.size());
  if (start < 0) {
    start = 0;
  } else if (end < 0 || end > len) {
    end = len;
  }
  if (end < 0 || end > len || start > end) return Invalid("slice bounds out of range");
  return Value(s.substr(static_cast<size_t>(start), static_cast<size_t>(end - start)));
}

// trunc N S: the first N bytes, or with a negative N the last -N.
Result<Value> FnTrunc(const Args& a) {
  DD_ASSIGN_OR_RETURN(c, Int(a[0]));
  DD_ASSIGN_OR_RETURN(s, Str(a[1]));
  const auto len = static_cast<int64_t>(s.size());
  if (c < 0 && len + c > 0) return Value(s.substr(static_cast<size_t>(len + c)));
  if (c >= 0 && len > c) return Value(s.substr(0, static_cast<size_t>(c)));
  return Value(std::move(s));
}

Result<std::string> Indent(const Value& spaces_value, const Value& text) {
  DD_ASSIGN_OR_RETURN(spaces, Int(spaces_value));
  DD_ASSIGN_OR_RETURN(s, Str(text));
  DD_ASSIGN_OR_RETURN(pad, Repeat(" ", spaces));
  const size_t lines = 1 + static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
  if (s.size() + lines * pad.size() > kMaxStringBytes) return TooLarge();
  std::string out = pad;
  for (char c : s) {
    out += c;
    if (c == '\n') out += pad;
  }
  return out;
}

// indent N S: every line of S after N spaces.
Result<Value> FnIndent(const Args& a) {
  DD_ASSIGN_OR_RETURN(out, Indent(a[0], a[1]));
  return Value(std::move(out));
}

Result<Value> FnNindent(const Args& a) {
  DD_ASSIGN_OR_RETURN(out, Indent(a[0], a[1]));
  return Value("\n" + out);
}

// join SEP LIST.
Result<Value> FnJoin(const Args& a) {
  DD_ASSIGN_OR_RETURN(sep, Str(a[0]));
  DD_ASSIGN_OR_RETURN(parts, StrSlice(a[1]));
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
    if (out.size() > kMaxStringBytes) return TooLarge();
  }
  return Value(std::move(out));
}

// splitList SEP S: a list.
Result<Value> FnSplitList(const Args& a) {
  DD_ASSIGN_OR_RETURN(sep, Str(a[0]));
  DD_ASSIGN_OR_RETURN(s, Str(a[1]));
  Value out = Value::array();
  for (std::string& part : Split(s, sep)) out.push_back(std::move(part));
  return out;
}

// split SEP S: a dict {"_0": …, "_1": …}.
Result<Value> FnSplit(const Args& a) {
  DD_ASSIGN_OR_RETURN(sep, Str(a[0]));
  DD_ASSIGN_OR_RETURN(s, Str(a[1]));
  Value out = Value::object();
  std::vector<std::string> parts = Split(s, sep);
  for (size_t i = 0; i < parts.size(); ++i) out["_" + std::to_string(i)] = std::move(parts[i]);
  return out;
}

Result<Value> FnCat(const Args& a) {
  std::string out;
  for (const Value& v : a) {
    if (v.is_null()) continue;
    DD_ASSIGN_OR_RETURN(s, StrVal(v));
    if (!out.empty()) out += ' ';
    out += s;
  }
  return Value(std::move(out));
}

Result<Value> FnToString(const Args& a) {
  DD_ASSIGN_OR_RETURN(s, StrVal(a[0]));
  return Value(std::move(s));
}

// ---- Sprig: lists and dicts ----

Result<Value> FnList(const Args& a) {
  Value out = Value::array();
  for (const Value& v : a) out.push_back(v);
  return out;
}

// dict K1 V1 K2 V2 …; a key without a value maps to "".
Result<Value> FnDict(const Args& a) {
  Value out = Value::object();
  for (size_t i = 0; i < a.size(); i += 2) {
    DD_ASSIGN_OR_RETURN(key, StrVal(a[i]));
    out[key] = i + 1 < a.size() ? a[i + 1] : Value("");
  }
  return out;
}

Result<Value> FnHasKey(const Args& a) {
  if (a[0].is_null()) return Value(false);
  if (!a[0].is_object()) return WrongType("map[string]interface {}", a[0]);
  DD_ASSIGN_OR_RETURN(key, Str(a[1]));
  return Value(a[0].contains(key));
}

// ---- Sprig: encodings ----

// Whole numbers held as floats become ints first, so that 2.0 encodes as Go encodes it: "2".
Result<Value> ForJson(const Value& v, int depth) {
  if (depth > kMaxNesting) return Invalid("value is nested too deeply to encode");
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::trunc(d) == d && std::fabs(d) < 1e15) return Value(static_cast<int64_t>(d));
    return v;
  }
  if (!v.is_structured()) return v;
  Value out = v.is_array() ? Value::array() : Value::object();
  for (const auto& [key, item] : v.items()) {
    DD_ASSIGN_OR_RETURN(converted, ForJson(item, depth + 1));
    if (v.is_array()) {
      out.push_back(std::move(converted));
    } else {
      out[key] = std::move(converted);
    }
  }
  return out;
}

// json.Marshal's output: nlohmann's, with the HTML-safe escapes Go adds ('<', '>', '&', U+2028,
// U+2029; outside strings JSON never has these characters) and invalid UTF-8 replaced.
Result<Value> ToJson(const Value& v, int indent) {
  DD_ASSIGN_OR_RETURN(normalized, ForJson(v, 0));
  const std::string dumped =
      normalized.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  for (size_t i = 0; i < dumped.size(); ++i) {
    const char c = dumped[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < dumped.size() && dumped[i + 1] == '\x80' &&
               (dumped[i + 2] == '\xA8' || dumped[i + 2] == '\xA9')) {
      out += dumped[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return Value(std::move(out));
}

Result<Value> FnToJson(const Args& a) { return ToJson(a[0], -1); }
Result<Value> FnToPrettyJson(const Args& a) { return ToJson(a[0], 2); }

Result<Value> FnB64Enc(const Args& a) {
  DD_ASSIGN_OR_RETURN(s, Str(a[0]));
  return Value(Base64Encode(s));
}

// Malformed input gives "" (Sprig gives the decoder's error text).
Result<Value> FnB64Dec(const Args& a) {
  DD_ASSIGN_OR_RETURN(s, Str(a[0]));
  return Value(Base64Decode(s));
}

Result<Value> FnSha256Sum(const Args& a) {
  DD_ASSIGN_OR_RETURN(s, Str(a[0]));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(s.data(), s.size(), digest, &n, EVP_sha256(), nullptr) != 1) {
    return Invalid("sha256 failed");
  }
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) {
    hex += "0123456789abcdef"[digest[i] >> 4];
    hex += "0123456789abcdef"[digest[i] & 0xF];
  }
  return Value(std::move(hex));
}

// ---- Sprig: numbers ----

// atoi S: strconv.Atoi, 0 when S is not a decimal integer (clamped when out of range).
Result<Value> FnAtoi(const Args& a) {
  DD_ASSIGN_OR_RETURN(s, Str(a[0]));
  std::string_view t = s;
  if (t.starts_with('+') && t.size() > 1 && t[1] != '-') t.remove_prefix(1);
  int64_t n = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n, 10);
  if (end != t.data() + t.size()) return Value(int64_t{0});
  if (ec == std::errc::result_out_of_range) {
    return Value(t.starts_with('-') ? INT64_MIN : INT64_MAX);
  }
  return Value(ec == std::errc() ? n : 0);
}

Result<Value> FnInt(const Args& a) { return Value(CastInt64(a[0])); }
Result<Value> FnFloat64(const Args& a) { return Value(CastFloat64(a[0])); }

Result<Value> FnAdd(const Args& a) {
  uint64_t sum = 0;
  for (const Value& v : a) sum += static_cast<uint64_t>(CastInt64(v));
  return Value(Wrap(sum));
}

Result<Value> FnAdd1(const Args& a) {
  return Value(Wrap(static_cast<uint64_t>(CastInt64(a[0])) + 1));
}

Result<Value> FnSub(const Args& a) {
  return Value(
      Wrap(static_cast<uint64_t>(CastInt64(a[0])) - static_cast<uint64_t>(CastInt64(a[1]))));
}

Result<Value> FnMul(const Args& a) {
  uint64_t product = static_cast<uint64_t>(CastInt64(a[0]));
  for (size_t i = 1; i < a.size(); ++i) product *= static_cast<uint64_t>(CastInt64(a[i]));
  return Value(Wrap(product));
}

Result<Value> DivMod(const Args& a, bool mod) {
  const int64_t x = CastInt64(a[0]), y = CastInt64(a[1]);
  if (y == 0) return Invalid("runtime error: integer divide by zero");
  if (y == -1) return Value(mod ? int64_t{0} : Wrap(0 - static_cast<uint64_t>(x)));
  return Value(mod ? x % y : x / y);
}

Result<Value> FnDiv(const Args& a) { return DivMod(a, false); }
Result<Value> FnMod(const Args& a) { return DivMod(a, true); }

Result<Value> MinMax(const Args& a, bool max) {
  int64_t best = CastInt64(a[0]);
  for (size_t i = 1; i < a.size(); ++i) {
    const int64_t v = CastInt64(a[i]);
    if (max ? v > best : v < best) best = v;
  }
  return Value(best);
}

Result<Value> FnMax(const Args& a) { return MinMax(a, true); }
Result<Value> FnMin(const Args& a) { return MinMax(a, false); }

}  // namespace

FuncTable MakeFuncTable() {
  return FuncTable{
      // Go's builtins.
      {"and", {1, kVariadic, nullptr}},
      {"or", {1, kVariadic, nullptr}},
      {"not", {1, 1, FnNot}},
      {"len", {1, 1, FnLen}},
      {"index", {1, kVariadic, FnIndex}},
      {"slice", {1, kVariadic, FnSlice}},
      {"print", {0, kVariadic, FnPrint}},
      {"printf", {1, kVariadic, FnPrintf}},
      {"println", {0, kVariadic, FnPrintln}},
      {"eq", {1, kVariadic, FnEq}},
      {"ne", {2, 2, FnNe}},
      {"lt", {2, 2, FnLt}},
      {"le", {2, 2, FnLe}},
      {"gt", {2, 2, FnGt}},
      {"ge", {2, 2, FnGe}},
      // Sprig.
      {"default", {1, kVariadic, FnDefault}},
      {"empty", {1, 1, FnEmpty}},
      {"coalesce", {0, kVariadic, FnCoalesce}},
      {"ternary", {3, 3, FnTernary}},
      {"fail", {1, 1, FnFail}},
      {"quote", {0, kVariadic, FnQuote}},
      {"squote", {0, kVariadic, FnSquote}},
      {"upper", {1, 1, FnUpper}},
      {"lower", {1, 1, FnLower}},
      {"title", {1, 1, FnTitle}},
      {"trim", {1, 1, FnTrim}},
      {"trimAll", {2, 2, FnTrimAll}},
      {"trimPrefix", {2, 2, FnTrimPrefix}},
      {"trimSuffix", {2, 2, FnTrimSuffix}},
      {"nospace", {1, 1, FnNospace}},
      {"replace", {3, 3, FnReplace}},
      {"contains", {2, 2, FnContains}},
      {"hasPrefix", {2, 2, FnHasPrefix}},
      {"hasSuffix", {2, 2, FnHasSuffix}},
      {"repeat", {2, 2, FnRepeat}},
      {"substr", {3, 3, FnSubstr}},
      {"trunc", {2, 2, FnTrunc}},
      {"indent", {2, 2, FnIndent}},
      {"nindent", {2, 2, FnNindent}},
      {"join", {2, 2, FnJoin}},
      {"splitList", {2, 2, FnSplitList}},
      {"split", {2, 2, FnSplit}},
      {"cat", {0, kVariadic, FnCat}},
      {"toString", {1, 1, FnToString}},
      {"list", {0, kVariadic, FnList}},
      {"dict", {0, kVariadic, FnDict}},
      {"hasKey", {2, 2, FnHasKey}},
      {"toJson", {1, 1, FnToJson}},
      {"toPrettyJson", {1, 1, FnToPrettyJson}},
      {"b64enc", {1, 1, FnB64Enc}},
      {"b64dec", {1, 1, FnB64Dec}},
      {"sha256sum", {1, 1, FnSha256Sum}},
      {"atoi", {1, 1, FnAtoi}},
      {"int", {1, 1, FnInt}},
      {"int64", {1, 1, FnInt}},
      {"float64", {1, 1, FnFloat64}},
      {"add", {0, kVariadic, FnAdd}},
      {"add1", {1, 1, FnAdd1}},
      {"sub", {2, 2, FnSub}},
      {"mul", {1, kVariadic, FnMul}},
      {"div", {2, 2, FnDiv}},
      {"mod", {2, 2, FnMod}},
      {"max", {1, kVariadic, FnMax}},
      {"min", {1, kVariadic, FnMin}},
  };
}

}  // namespace drydock::gotemplate::internal
