// Go's fmt and strconv as templates see them: values print the way fmt.Sprint, fmt.Sprintf and
// strconv.Quote print the Go values ACR's templates hold (string, int, float64, bool, nil,
// []interface{} and map[string]interface{}).
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "gotemplate/internal.h"

namespace drydock::gotemplate::internal {
namespace {

constexpr int kMaxWidth = 1'000'000;  // as fmt: larger widths and precisions are "BAD"

void AppendHex(std::string& out, uint64_t v, int digits, bool upper) {
  const char* hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out += hex[(v >> (4 * i)) & 0xF];
}

// unicode.IsPrint for the code points fmt has to decide about: control and format characters,
// separators other than U+0020, private use and noncharacters are not printable.
bool IsPrintRune(int32_t r) {
  if (r < 0x20 || (r >= 0x7F && r <= 0x9F)) return false;
  if (r == 0xAD || r == 0x61C || r == 0x180E || r == 0xFEFF) return false;
  if (r >= 0x200B && r <= 0x200F) return false;
  if (r >= 0x2028 && r <= 0x202E) return false;
  if (r >= 0x2060 && r <= 0x206F) return false;
  if (r >= 0xE000 && r <= 0xF8FF) return false;
  if (r >= 0xFFF9 && r <= 0xFFFB) return false;
  if ((r & 0xFFFE) == 0xFFFE || r >= 0xF0000) return false;
  if (IsSpaceRune(r) && r != ' ') return false;
  return true;
}

// One rune as strconv quotes it inside `quote` marks.
void AppendQuotedRune(std::string& out, int32_t r, char quote) {
  if (r == quote || r == '\\') {
    out += '\\';
    out += static_cast<char>(r);
    return;
  }
  if (IsPrintRune(r)) return AppendRune(out, r);
  switch (r) {
    case '\a':
      out += "\\a";
      return;
    case '\b':
      out += "\\b";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\v':
      out += "\\v";
      return;
  }
  if (r < 0x80) {
    out += "\\x";
    AppendHex(out, static_cast<uint64_t>(r), 2, false);
  } else if (r < 0x10000) {
    out += "\\u";
    AppendHex(out, static_cast<uint64_t>(r), 4, false);
  } else {
    out += "\\U";
    AppendHex(out, static_cast<uint64_t>(r), 8, false);
  }
}

std::string QuoteRune(int32_t r) {
  if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) r = 0xFFFD;
  std::string out = "'";
  AppendQuotedRune(out, r, '\'');
  return out + "'";
}

bool CanBackquote(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n;
    int32_t r = DecodeRune(s, i, &n);
    if (r < 0 || r == '`' || r == 0xFEFF || (r < 0x20 && r != '\t') || r == 0x7F) return false;
    i += n;
  }
  return true;
}

size_t RuneCount(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// strconv.FormatFloat(a, 'g', -1, 64) for a finite a >= 0: the shortest digits that read back
// as a, in %e form when the exponent is < -4 or >= 6 (fmt prints 1e6 as "1e+06").
std::string ShortestG(double a, bool upper) {
  if (a == 0) return "0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), a, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));  // "d.ddde+XX"
  size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits += c;
  }
  int exp = 0;
  std::from_chars(sci.data() + e + (sci[e + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp);
  const int nd = static_cast<int>(digits.size());
  if (exp < -4 || exp >= 6) {
    std::string out(1, digits[0]);
    if (nd > 1) out += "." + digits.substr(1);
    out += upper ? 'E' : 'e';
    out += exp < 0 ? '-' : '+';
    int mag = std::abs(exp);
    if (mag < 10) out += '0';
    return out + std::to_string(mag);
  }
  const int dp = exp + 1;  // digits before the decimal point
  if (dp <= 0) return "0." + std::string(static_cast<size_t>(-dp), '0') + digits;
  if (dp >= nd) return digits + std::string(static_cast<size_t>(dp - nd), '0');
  return digits.substr(0, static_cast<size_t>(dp)) + "." + digits.substr(static_cast<size_t>(dp));
}

std::string FloatV(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  return (std::signbit(d) ? "-" : "") + ShortestG(std::fabs(d), false);
}

// A value split into sign and magnitude, whichever of nlohmann's integer types holds it.
struct IntParts {
  bool neg = false;
  uint64_t mag = 0;
};

IntParts SplitInt(const Value& v) {
  if (v.is_number_unsigned()) return {false, v.get<uint64_t>()};
  int64_t i = v.get<int64_t>();
  return {i < 0, i < 0 ? 0 - static_cast<uint64_t>(i) : static_cast<uint64_t>(i)};
}

struct Spec {
  bool plus = false, minus = false, sharp = false, space = false, zero = false;
  int width = -1;
  int prec = -1;
};

// The state of one Sprint/Sprintf call.
class Printer {
 public:
  std::string out;
  bool too_deep = false;

  void Arg(const Value& v, int32_t verb, const Spec& sp, int depth) {
    if (depth > kMaxNesting) {
      too_deep = true;
      return;
    }
    if (verb == 'T') return Pad(TypeName(v), sp);
    if (v.is_null()) {
      // Nested nils print as <nil> whatever the verb; a nil argument only under %v.
      if (verb == 'v' || depth > 0) return Pad("<nil>", sp);
      return BadVerb(v, verb, depth);
    }
    if (v.is_boolean()) {
      if (verb == 'v' || verb == 't') return Pad(v.get<bool>() ? "true" : "false", sp);
      return BadVerb(v, verb, depth);
    }
    if (v.is_number_integer()) return Integer(v, verb, sp, depth);
    if (v.is_number_float()) return Float(v, verb, sp, depth);
    if (v.is_string()) return String(v, verb, sp, depth);
    if (v.is_binary()) {  // never from JSON text; printed as the []byte it would be in Go
      Value bytes = Value::array();
      for (uint8_t b : v.get_binary()) bytes.push_back(b);
      return Arg(bytes, verb, sp, depth);
    }
    if (v.is_array()) {
      out += '[';
      bool first = true;
      for (const Value& item : v) {
        if (!first) out += ' ';
        first = false;
        Arg(item, verb, sp, depth + 1);
      }
      out += ']';
      return;
    }
    out += "map[";
    bool first = true;
    for (const auto& [key, item] : v.items()) {
      if (!first) out += ' ';
      first = false;
      Arg(Value(key), verb, sp, depth + 1);
      out += ':';
      Arg(item, verb, sp, depth + 1);
    }
    out += ']';
  }

  void BadVerb(const Value& v, int32_t verb, int depth) {
    out += "%!";
    AppendRune(out, verb);
    out += '(';
    if (v.is_null()) {
      out += "<nil>";
    } else {
      out += TypeName(v) + "=";
      Arg(v, 'v', Spec{}, depth + 1);
    }
    out += ')';
  }

  void Pad(std::string_view s, const Spec& sp) {
    size_t n = sp.width > 0 ? RuneCount(s) : 0;
    size_t fill = n < static_cast<size_t>(std::max(sp.width, 0)) ? sp.width - n : 0;
    if (!sp.minus) out.append(fill, ' ');
    out += s;
    if (sp.minus) out.append(fill, ' ');
  }

  // Zero padding goes between the sign (or prefix) and the digits.
  void PadNumber(const std::string& sign, std::string digits, const Spec& sp) {
    if (sp.zero && !sp.minus && sp.width > 0) {
      size_t want = static_cast<size_t>(sp.width);
      size_t have = sign.size() + digits.size();
      if (have < want) digits.insert(0, want - have, '0');
    }
    Pad(sign + digits, sp);
  }

  void Integer(const Value& v, int32_t verb, const Spec& sp, int depth) {
    const IntParts p = SplitInt(v);
    const int64_t rune = p.neg || p.mag > 0x10FFFF ? 0xFFFD : static_cast<int64_t>(p.mag);
    switch (verb) {
      case 'c': {
        std::string s;
        AppendRune(s, static_cast<int32_t>(rune));
        return Pad(s, sp);
      }
      case 'q':
        return Pad(QuoteRune(static_cast<int32_t>(rune)), sp);
      case 'U': {
        std::string s = "U+";
        int digits = 4;
        while (digits < 16 && (p.mag >> (4 * digits)) != 0) ++digits;
        AppendHex(s, p.mag, digits, true);
        if (sp.sharp && rune != 0xFFFD && IsPrintRune(static_cast<int32_t>(rune))) {
          s += " '";
          AppendRune(s, static_cast<int32_t>(rune));
          s += "'";
        }
        return Pad(s, sp);
      }
      case 'v':
      case 'd':
      case 'b':
      case 'o':
      case 'O':
      case 'x':
      case 'X':
        break;
      default:
        return BadVerb(v, verb, depth);
    }
    const int base = verb == 'b'                  ? 2
                     : verb == 'o' || verb == 'O' ? 8
                     : verb == 'x' || verb == 'X' ? 16
                                                  : 10;
    const char* digit_chars = verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string digits;
    for (uint64_t m = p.mag; m > 0; m /= base) digits.insert(digits.begin(), digit_chars[m % base]);
    if (digits.empty()) digits = "0";
    if (sp.prec >= 0) {
      if (sp.prec == 0 && p.mag == 0) digits.clear();
      if (digits.size() < static_cast<size_t>(sp.prec)) {
        digits.insert(0, sp.prec - digits.size(), '0');
      }
    }
    std::string sign = p.neg ? "-" : sp.plus ? "+" : sp.space ? " " : "";
    if (verb == 'O') sign += "0o";
    if (sp.sharp) {
      if (verb == 'b') sign += "0b";
      if (verb == 'x') sign += "0x";
      if (verb == 'X') sign += "0X";
      if (verb == 'o' && (digits.empty() || digits[0] != '0')) sign += "0";
    }
    if (sp.prec >= 0) return Pad(sign + digits, sp);  // a precision turns zero padding off
    PadNumber(sign, digits, sp);
  }

  void Float(const Value& v, int32_t verb, const Spec& sp, int depth) {
    const double d = v.get<double>();
    switch (verb) {
      case 'v':
      case 'g':
      case 'G':
      case 'e':
      case 'E':
      case 'f':
      case 'F':
        break;
      default:
        return BadVerb(v, verb, depth);
    }
    std::string sign = std::signbit(d) ? "-" : sp.plus ? "+" : sp.space ? " " : "";
    // Not numbers to pad with zeros; Go prints a sign on +Inf even without '+'.
    if (std::isnan(d)) return Pad((sp.plus ? "+" : sp.space ? " " : "") + std::string("NaN"), sp);
    if (std::isinf(d)) {
      return Pad((d < 0 ? "-" : sp.space && !sp.plus ? " " : "+") + std::string("Inf"), sp);
    }
    const double a = std::fabs(d);
    std::string body;
    if ((verb == 'v' || verb == 'g' || verb == 'G') && sp.prec < 0) {
      body = ShortestG(a, verb == 'G');
    } else {
      const char c = verb == 'v' ? 'g' : verb == 'F' ? 'f' : static_cast<char>(verb);
      const char fmt[] = {'%', '.', '*', c, '\0'};
      const int prec = sp.prec < 0 ? 6 : sp.prec;
      int n = std::snprintf(nullptr, 0, fmt, prec, a);
      body.resize(static_cast<size_t>(n) + 1);
      std::snprintf(body.data(), body.size(), fmt, prec, a);
      body.resize(static_cast<size_t>(n));
    }
    PadNumber(sign, body, sp);
  }

  void String(const Value& v, int32_t verb, const Spec& sp, int depth) {
    std::string_view s = v.get_ref<const std::string&>();
    if (sp.prec >= 0) {  // at most prec runes
      size_t i = 0;
      for (int r = 0; r < sp.prec && i < s.size(); ++r) {
        size_t n;
        DecodeRune(s, i, &n);
        i += n;
      }
      s = s.substr(0, i);
    }
    switch (verb) {
      case 'v':
      case 's':
        return Pad(s, sp);
      case 'q':
        if (sp.sharp && CanBackquote(s)) return Pad("`" + std::string(s) + "`", sp);
        return Pad(GoQuote(s), sp);
      case 'x':
      case 'X': {
        std::string hex = sp.sharp ? (verb == 'x' ? "0x" : "0X") : "";
        for (char c : s) AppendHex(hex, static_cast<unsigned char>(c), 2, verb == 'X');
        return Pad(hex, sp);
      }
      default:
        return BadVerb(v, verb, depth);
    }
  }
};

// A '*' width or precision: the next argument, which must be an int no larger than fmt allows.
bool StarArg(const Args& args, size_t& argi, int* out) {
  if (argi >= args.size()) return false;
  const Value& v = args[argi++];
  if (!v.is_number_integer()) return false;
  const int64_t n = v.get<int64_t>();
  if (v.is_number_unsigned() ? v.get<uint64_t>() > kMaxWidth : (n < -kMaxWidth || n > kMaxWidth)) {
    return false;
  }
  *out = static_cast<int>(n);
  return true;
}

// Go's parsenum: digits at f[i] into *out (-1 when there are none). A number beyond fmt's limit
// swallows the rest of the format, as in Go.
void Digits(std::string_view f, size_t& i, int* out) {
  *out = -1;
  for (; i < f.size() && f[i] >= '0' && f[i] <= '9'; ++i) {
    if (*out > kMaxWidth) {
      *out = -1;
      i = f.size();
      return;
    }
    *out = (*out < 0 ? 0 : *out * 10) + (f[i] - '0');
  }
}

// Go's argNumber: an explicit argument index "[n]" (1-based) at f[i]. True when one was read;
// `good` turns false for a malformed or out-of-range index.
bool ArgIndex(std::string_view f, size_t& i, const Args& args, size_t first, size_t& argi,
              bool& reordered, bool& good) {
  if (i >= f.size() || f[i] != '[') return false;
  reordered = true;
  const size_t close = f.find(']', i + 1);
  if (f.size() - i < 3 || close == std::string_view::npos) {
    ++i;
    good = false;
    return false;
  }
  const std::string_view digits = f.substr(i + 1, close - i - 1);
  i = close + 1;
  if (digits.empty() || digits.size() > 6 ||
      digits.find_first_not_of("0123456789") != std::string_view::npos) {
    good = false;
    return false;
  }
  const size_t n = static_cast<size_t>(std::stoi(std::string(digits)));
  if (n < 1 || first + n - 1 >= args.size()) {
    good = false;
  } else {
    argi = first + n - 1;
  }
  return true;
}

}  // namespace

int32_t DecodeRune(std::string_view s, size_t i, size_t* size) {
  const auto c = static_cast<unsigned char>(s[i]);
  *size = 1;
  if (c < 0x80) return c;
  int n;
  int32_t r, min;
  if ((c & 0xE0) == 0xC0) {
    n = 2, r = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, r = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, r = c & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (i + n > s.size()) return -1;
  for (int k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return -1;
    r = (r << 6) | (cc & 0x3F);
  }
  if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return -1;
  *size = static_cast<size_t>(n);
  return r;
}

void AppendRune(std::string& out, int32_t r) {
  if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) r = 0xFFFD;
  const auto u = static_cast<uint32_t>(r);
  if (u < 0x80) {
    out += static_cast<char>(u);
  } else if (u < 0x800) {
    out += static_cast<char>(0xC0 | (u >> 6));
    out += static_cast<char>(0x80 | (u & 0x3F));
  } else if (u < 0x10000) {
    out += static_cast<char>(0xE0 | (u >> 12));
    out += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (u & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (u >> 18));
    out += static_cast<char>(0x80 | ((u >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (u & 0x3F));
  }
}

bool IsSpaceRune(int32_t r) {
  switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
  }
  return r >= 0x2000 && r <= 0x200A;
}

NumParse ParseGoInt(std::string_view s, int64_t* out) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.size() >= 2 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 8;
    s.remove_prefix(p == 'x' || p == 'o' || p == 'b' ? 2 : 1);
  }
  uint64_t mag = 0;
  bool any = false;
  for (char c : s) {
    if (c == '_') continue;
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : 99;
    if (d >= base) return NumParse::kSyntax;
    if (mag > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(d)) / base) {
      return NumParse::kRange;
    }
    mag = mag * base + static_cast<uint64_t>(d);
    any = true;
  }
  if (!any) return NumParse::kSyntax;
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + (neg ? 1 : 0);
  if (mag > limit) return NumParse::kRange;
  *out = neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
  return NumParse::kOk;
}

NumParse ParseGoFloat(std::string_view s, double* out) {
  std::string clean;
  for (char c : s) {
    if (c != '_') clean += c;
  }
  bool neg = false;
  std::string_view t = clean;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    neg = t[0] == '-';
    t.remove_prefix(1);
  }
  if (t.empty() || t[0] == '+' || t[0] == '-') return NumParse::kSyntax;
  double d = 0;
  auto res = std::from_chars(t.data(), t.data() + t.size(), d, std::chars_format::general);
  if (res.ec == std::errc::result_out_of_range) return NumParse::kRange;
  if (res.ec != std::errc() || res.ptr != t.data() + t.size()) return NumParse::kSyntax;
  *out = neg ? -d : d;
  return NumParse::kOk;
}

bool Truth(const Value& v) {
  switch (v.type()) {
    case Value::value_t::boolean:
      return v.get<bool>();
    case Value::value_t::number_integer:
      return v.get<int64_t>() != 0;
    case Value::value_t::number_unsigned:
      return v.get<uint64_t>() != 0;
    case Value::value_t::number_float:
      return v.get<double>() != 0;
    case Value::value_t::string:
      return !v.get_ref<const std::string&>().empty();
    case Value::value_t::array:
    case Value::value_t::object:
      return !v.empty();
    case Value::value_t::binary:
      return !v.get_binary().empty();
    default:
      return false;
  }
}

std::string TypeName(const Value& v) {
  switch (v.type()) {
    case Value::value_t::boolean:
      return "bool";
    case Value::value_t::number_integer:
    case Value::value_t::number_unsigned:
      return "int";
    case Value::value_t::number_float:
      return "float64";
    case Value::value_t::string:
      return "string";
    case Value::value_t::array:
      return "[]interface {}";
    case Value::value_t::object:
      return "map[string]interface {}";
    case Value::value_t::binary:
      return "[]uint8";
    default:
      return "<nil>";
  }
}

Result<std::string> FormatValue(const Value& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return FloatV(v.get<double>());
  Printer p;
  p.Arg(v, 'v', Spec{}, 0);
  if (p.too_deep) return Invalid("value is nested too deeply to print");
  return std::move(p.out);
}

Result<std::string> StrVal(const Value& v) { return FormatValue(v); }

Result<std::string> Sprint(const Args& args, bool println) {
  Printer p;
  for (size_t i = 0; i < args.size(); ++i) {
    // fmt.Sprint separates operands only when neither is a string; Sprintln always does.
    if (i > 0 && (println || (!args[i].is_string() && !args[i - 1].is_string()))) p.out += ' ';
    p.Arg(args[i], 'v', Spec{}, 0);
    if (p.out.size() > kMaxStringBytes) return Invalid("result is larger than 16 MiB");
  }
  if (println) p.out += '\n';
  if (p.too_deep) return Invalid("value is nested too deeply to print");
  return std::move(p.out);
}

Result<std::string> Sprintf(std::string_view f, const Args& args, size_t first) {
  Printer p;
  size_t argi = first;
  bool reordered = false;  // an explicit [n] index turns off the EXTRA report
  for (size_t i = 0; i < f.size();) {
    if (f[i] != '%') {
      size_t next = f.find('%', i);
      if (next == std::string_view::npos) next = f.size();
      p.out.append(f.substr(i, next - i));
      i = next;
      continue;
    }
    ++i;
    Spec sp;
    for (; i < f.size(); ++i) {
      const char c = f[i];
      if (c == '+') {
        sp.plus = true;
      } else if (c == '-') {
        sp.minus = true;
        sp.zero = false;
      } else if (c == '#') {
        sp.sharp = true;
      } else if (c == ' ') {
        sp.space = true;
      } else if (c == '0') {
        sp.zero = !sp.minus;
      } else {
        break;
      }
    }
    bool good = true;
    bool after_index = ArgIndex(f, i, args, first, argi, reordered, good);
    if (i < f.size() && f[i] == '*') {
      ++i;
      if (!StarArg(args, argi, &sp.width)) {
        p.out += "%!(BADWIDTH)";
        sp.width = -1;
      } else if (sp.width < 0) {
        sp.width = -sp.width;
        sp.minus = true;
        sp.zero = false;
      }
      after_index = false;
    } else {
      Digits(f, i, &sp.width);
      if (after_index && sp.width >= 0) good = false;  // "%[3]2d"
    }
    if (i + 1 < f.size() && f[i] == '.') {
      ++i;
      if (after_index) good = false;  // "%[3].2d"
      after_index = ArgIndex(f, i, args, first, argi, reordered, good);
      if (i < f.size() && f[i] == '*') {
        ++i;
        if (!StarArg(args, argi, &sp.prec)) {
          p.out += "%!(BADPREC)";
          sp.prec = -1;
        } else if (sp.prec < 0) {
          sp.prec = -1;  // a negative precision means none
        }
        after_index = false;
      } else {
        Digits(f, i, &sp.prec);
        if (sp.prec < 0) sp.prec = 0;  // "%.f": precision zero
      }
    }
    if (!after_index) ArgIndex(f, i, args, first, argi, reordered, good);
    if (i >= f.size()) {
      p.out += "%!(NOVERB)";
      break;
    }
    size_t n;
    int32_t verb = DecodeRune(f, i, &n);
    if (verb < 0) verb = 0xFFFD;
    i += n;
    if (verb == '%') {  // takes no argument and ignores width and precision
      p.out += '%';
    } else if (!good || argi >= args.size()) {
      p.out += "%!";
      AppendRune(p.out, verb);
      p.out += good ? "(MISSING)" : "(BADINDEX)";
    } else {
      p.Arg(args[argi++], verb, sp, 0);
    }
    if (p.out.size() > kMaxStringBytes) return Invalid("result is larger than 16 MiB");
  }
  if (!reordered && argi < args.size()) {
    p.out += "%!(EXTRA ";
    for (size_t k = argi; k < args.size(); ++k) {
      if (k > argi) p.out += ", ";
      if (args[k].is_null()) {
        p.out += "<nil>";
      } else {
        p.out += TypeName(args[k]) + "=";
        p.Arg(args[k], 'v', Spec{}, 0);
      }
    }
    p.out += ')';
  }
  if (p.too_deep) return Invalid("value is nested too deeply to print");
  return std::move(p.out);
}

std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    size_t n;
    const int32_t r = DecodeRune(s, i, &n);
    if (r < 0) {  // a byte that is not UTF-8
      out += "\\x";
      AppendHex(out, static_cast<unsigned char>(s[i]), 2, false);
    } else {
      AppendQuotedRune(out, r, '"');
    }
    i += n;
  }
  return out + "\"";
}

}  // namespace drydock::gotemplate::internal
