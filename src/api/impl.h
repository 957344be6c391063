// Private to the api component: the state shared by its handlers and the
// helpers that answer in docs/api.md's JSON shapes.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/api.h"

namespace drydock::api {

// Per-request context after authentication (never anonymous).
struct Ctx {
  http::Request& req;
  http::Response& resp;
  auth::Identity who;
};

// {"error": {"code": ..., "message": ...}} with `status`.
void SendError(http::Response& r, int status, std::string_view code, std::string_view message);
// Maps a Status from a component onto the error response of its kind.
void SendStatus(http::Response& r, const Status& s);
void SendJson(http::Response& r, int status, const nlohmann::json& body);

struct Api::Impl {
  auth::Authenticator& auth;
  storage::MetadataStore& meta;
  events::Bus& bus;
  tasks::RunService& runs;
  Options options;

  Impl(auth::Authenticator& a, storage::MetadataStore& m, events::Bus& b, tasks::RunService& r,
       Options o)
      : auth(a), meta(m), bus(b), runs(r), options(std::move(o)) {}

  void Route(Ctx& c, std::string_view path);
  // "{id}[/cancel|/log]" and "{name}[/tags[/{tag}]]"; false when no route matches.
  bool RouteRun(Ctx& c, std::string_view rest);
  bool RouteRepository(Ctx& c, std::string_view rest);

  void IssueToken(Ctx& c);
  void UploadContext(Ctx& c);

  void QueueRun(Ctx& c);
  void ListRuns(Ctx& c);
  void GetRun(Ctx& c, const std::string& id);
  void CancelRun(Ctx& c, const std::string& id);
  void RunLog(Ctx& c, const std::string& id);

  void ListRepositories(Ctx& c);
  void ListTags(Ctx& c, const std::string& repo);
  void DeleteRepository(Ctx& c, const std::string& repo);
  void DeleteTag(Ctx& c, const std::string& repo, const std::string& tag);
  // Records and publishes a delete event.
  void Emit(const auth::Identity& who, const std::string& repo, const std::string& tag,
            const oci::Digest& digest);

  // Answers 403 unless the user is an admin or has at least one grant: the
  // bar for using the build service at all.
  bool RequireAnyGrant(Ctx& c);
  // Admins see every run; others the runs they queued and those pushing to
  // a repository they may pull (memoized in `can_pull`).
  bool CanRead(const auth::Identity& who, const tasks::Run& run,
               std::map<std::string, bool>& can_pull);
  // The run, or false after answering 404/403.
  bool LoadReadableRun(Ctx& c, const std::string& id, tasks::Run& run);
};

}  // namespace drydock::api
