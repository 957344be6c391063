#include "cli/client/run_format.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

namespace drydock::client {

using nlohmann::json;

bool IsFinalStatus(const std::string& status) {
  return status == "Succeeded" || status == "Failed" || status == "Canceled" || status == "Error" ||
         status == "Timeout";
}

std::optional<int64_t> ParseTime(const std::string& s) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t t = ::timegm(&tm);
  size_t i = static_cast<size_t>(consumed);
  while (i < s.size() && (s[i] == '.' || std::isdigit(static_cast<unsigned char>(s[i])))) ++i;
  int sh = 0, sm = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-') &&
      std::sscanf(s.c_str() + i + 1, "%2d:%2d", &sh, &sm) == 2) {
    t -= (s[i] == '+' ? 1 : -1) * (sh * 3600 + sm * 60);
  }
  return t;
}

std::optional<int64_t> RunSeconds(const json& run, int64_t now) {
  auto start = ParseTime(run.value("startTime", ""));
  if (!start) start = ParseTime(run.value("createTime", ""));
  if (!start) return std::nullopt;
  auto finish = ParseTime(run.value("finishTime", ""));
  return std::max<int64_t>(0, (finish ? *finish : now) - *start);
}

std::string Hms(int64_t seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(seconds / 3600),
                static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
  return buf;
}

std::string FinalStatusLine(const json& run) {
  std::string head = "Run ID: " + run.value("runId", "?");
  std::string status = run.value("status", "");
  auto secs = RunSeconds(run, std::time(nullptr));
  std::string after = secs ? " after " + std::to_string(*secs) + "s" : "";
  if (status == "Succeeded") return head + " was successful" + after;
  if (status == "Failed") return head + " failed" + after;
  if (status == "Canceled") return head + " was canceled";
  if (status == "Timeout") return head + " timed out";
  if (status == "Error") return head + " errored" + after;
  return head + " is " + status;
}

std::vector<std::string> PushedImages(const json& run) {
  std::vector<std::string> out;
  if (!run.contains("outputImages") || !run["outputImages"].is_array()) return out;
  for (const auto& img : run["outputImages"]) {
    std::string digest = img.value("digest", "");
    if (digest.empty()) continue;
    std::string ref = img.value("registry", "");
    if (!ref.empty()) ref += "/";
    ref += img.value("repository", "");
    if (std::string tag = img.value("tag", ""); !tag.empty()) ref += ":" + tag;
    out.push_back(ref + "@" + digest);
  }
  return out;
}

void PrintTable(std::ostream& out, const std::vector<std::string>& headers,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < width.size(); ++i) {
      std::string cell = i < cells.size() ? cells[i] : "";
      s += cell;
      if (i + 1 < width.size()) s += std::string(width[i] - cell.size() + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << "\n";
  };
  line(headers);
  std::vector<std::string> rule;
  for (size_t w : width) rule.push_back(std::string(w, '-'));
  line(rule);
  for (const auto& row : rows) line(row);
}

}  // namespace drydock::client
