// `drydock repository list|show-tags|delete` over the server's REST API.
#include <unistd.h>

#include <iostream>
#include <string>

#include "cli/client/api_client.h"
#include "cli/client/exit.h"
#include "cli/client/run_format.h"
#include "cli/commands.h"

namespace drydock::cli {
namespace {

using nlohmann::json;

// "team/app" -> "/api/v1/repositories/team/app": the slashes stay.
std::string RepoPath(const std::string& repo) {
  std::string out = "/api/v1/repositories";
  size_t start = 0;
  while (start <= repo.size()) {
    size_t slash = repo.find('/', start);
    if (slash == std::string::npos) slash = repo.size();
    out += "/" + client::UrlEscape(repo.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

// "team/app:1.0" -> {"team/app", "1.0"}; a ':' before the last '/' is a port.
std::pair<std::string, std::string> SplitTag(const std::string& ref) {
  auto colon = ref.rfind(':');
  auto slash = ref.rfind('/');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return {ref, ""};
  return {ref.substr(0, colon), ref.substr(colon + 1)};
}

Status Confirm(const std::string& what) {
  if (!::isatty(STDIN_FILENO))
    return Invalid("not deleting " + what + " without --yes (stdin is not a terminal)");
  std::cerr << "Delete " << what << "? This cannot be undone. [y/N] " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  if (answer == "y" || answer == "Y" || answer == "yes") return Status::Ok();
  return Invalid("not deleted");
}

Status List(const RepositoryFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(reply, api.Get("/api/v1/repositories"));
  json repos = reply.value("repositories", json::array());
  if (f.output == "json") {
    std::cout << repos.dump(2) << "\n";
    return Status::Ok();
  }
  for (const auto& r : repos) std::cout << r.get<std::string>() << "\n";
  return Status::Ok();
}

Status ShowTags(const RepositoryFlags& f) {
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  DD_ASSIGN_OR_RETURN(reply, api.Get(RepoPath(f.name) + "/tags"));
  json tags = reply.value("tags", json::array());
  if (f.output == "json") {
    std::cout << tags.dump(2) << "\n";
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : tags) rows.push_back({t.value("name", ""), t.value("digest", "")});
  client::PrintTable(std::cout, {"TAG", "DIGEST"}, rows);
  return Status::Ok();
}

Status Delete(const RepositoryFlags& f) {
  auto [repo, tag] = SplitTag(f.name);
  if (repo.empty()) return Invalid("no repository given");
  std::string what = tag.empty() ? "repository " + repo + " with all its tags" : repo + ":" + tag;
  if (!f.yes) DD_RETURN_IF_ERROR(Confirm(what));
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  if (!tag.empty()) {
    DD_ASSIGN_OR_RETURN(reply, api.Delete(RepoPath(repo) + "/tags/" + client::UrlEscape(tag)));
    std::cout << "Deleted tag " << repo << ":" << reply.value("deleted", tag) << "\n";
    return Status::Ok();
  }
  DD_ASSIGN_OR_RETURN(reply, api.Delete(RepoPath(repo)));
  json deleted = reply.value("deleted", json::array());
  std::cout << "Deleted repository " << repo << " (" << deleted.size() << " manifest(s))\n";
  for (const auto& d : deleted) {
    if (d.is_string()) std::cout << d.get<std::string>() << "\n";
  }
  return Status::Ok();
}

// PACKAGE[@VERSION]: the images whose SBOM lists it.
Status WhichContain(const WhichContainFlags& f) {
  auto at = f.package.find('@');
  std::string name = f.package.substr(0, at);
  std::string version = at == std::string::npos ? "" : f.package.substr(at + 1);
  if (name.empty()) return Invalid("give a package as NAME or NAME@VERSION");
  DD_ASSIGN_OR_RETURN(api, client::ApiClient::Connect(f.server));
  std::string path = "/api/v1/images/packages?name=" + client::UrlEscape(name);
  if (!version.empty()) path += "&version=" + client::UrlEscape(version);
  DD_ASSIGN_OR_RETURN(reply, api.Get(path));
  json images = reply.value("images", json::array());
  if (f.output == "json") {
    std::cout << images.dump(2) << "\n";
    return Status::Ok();
  }
  if (images.empty()) {
    std::cout << "no stored SBOM lists " << f.package << "\n";
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& i : images) {
    std::string tags;
    for (const auto& t : i.value("tags", json::array()))
      tags += (tags.empty() ? "" : ",") + t.get<std::string>();
    rows.push_back({i.value("repository", ""), tags.empty() ? "(untagged)" : tags,
                    i.value("digest", "").substr(0, 19), i.value("name", ""),
                    i.value("version", "")});
  }
  client::PrintTable(std::cout, {"REPOSITORY", "TAGS", "DIGEST", "PACKAGE", "VERSION"}, rows);
  if (reply.value("truncated", false)) std::cout << "(more images match: the list was cut)\n";
  return Status::Ok();
}

}  // namespace

int ImageWhichContain(const WhichContainFlags& flags) {
  Status s = WhichContain(flags);
  return s.ok() ? 0 : client::Fail("image which-contain", s);
}

int RepositoryList(const RepositoryFlags& flags) {
  Status s = List(flags);
  return s.ok() ? 0 : client::Fail("repository list", s);
}

int RepositoryShowTags(const RepositoryFlags& flags) {
  Status s = ShowTags(flags);
  return s.ok() ? 0 : client::Fail("repository show-tags", s);
}

int RepositoryDelete(const RepositoryFlags& flags) {
  Status s = Delete(flags);
  return s.ok() ? 0 : client::Fail("repository delete", s);
}

}  // namespace drydock::cli
