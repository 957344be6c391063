// Private to the api component: the state shared by its handlers and the
// helpers that answer in docs/api.md's JSON shapes.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/api.h"
#include "api/session.h"

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
  storage::BlobStore& blobs;
  storage::MetadataStore& meta;
  registry::Registry& registry;
  tasks::RunService& runs;
  tasks::TaskService& task_service;
  triggers::Service& trigger_service;
  Options options;

  Impl(auth::Authenticator& a, storage::BlobStore& b, storage::MetadataStore& m,
       registry::Registry& reg, tasks::RunService& r, tasks::TaskService& t, triggers::Service& ts,
       Options o)
      : auth(a),
        blobs(b),
        meta(m),
        registry(reg),
        runs(r),
        task_service(t),
        trigger_service(ts),
        options(std::move(o)) {}

  void Route(Ctx& c, std::string_view path);
  // agents.cc: an agent token's requests (path after /api/v1).
  void RouteAgent(http::Request& req, http::Response& resp, const std::string& agent,
                  std::string_view path);
  void AgentClaim(Ctx& c);
  void AgentHeartbeat(Ctx& c, const std::string& id);
  void AgentLog(Ctx& c, const std::string& id);
  void AgentReport(Ctx& c, const std::string& id);
  void AgentContext(Ctx& c, const std::string& id);
  void AgentSign(Ctx& c, const std::string& id);
  void ListAgents(Ctx& c);
  void LogLevel(Ctx& c);  // admin.cc
  void CreateAgentToken(Ctx& c);
  void RevokeAgent(Ctx& c, const std::string& name);
  // "{id}[/cancel|/log]" and "{name}[/tags[/{tag}]]"; false when no route matches.
  bool RouteRun(Ctx& c, std::string_view rest);
  bool RouteRepository(Ctx& c, std::string_view rest);
  // repositories.cc: a manifest with what the dashboard shows of it.
  void ShowManifest(Ctx& c, const std::string& repo, const std::string& reference);
  nlohmann::json BaseOf(const std::string& repo, const std::string& tag, const oci::Digest& d);

  // session.cc: the dashboard's sign-in (POST, unauthenticated), and the
  // session itself (GET, DELETE to sign out).
  void SignIn(http::Request& req, http::Response& resp);
  void Session(Ctx& c, const SessionCookie* cookie);

  // tokens.cc
  void IssueToken(Ctx& c);
  void ListTokens(Ctx& c);
  void RevokeToken(Ctx& c, const std::string& id);

  void UploadContext(Ctx& c);

  void QueueRun(Ctx& c);
  void ListRuns(Ctx& c);
  void GetRun(Ctx& c, const std::string& id);
  void CancelRun(Ctx& c, const std::string& id);
  void RunLog(Ctx& c, const std::string& id);

  // tasks.cc
  bool RouteTask(Ctx& c, std::string_view rest);
  void CreateTask(Ctx& c);
  void ListTasks(Ctx& c);
  void GetTask(Ctx& c, const std::string& name);
  void UpdateTask(Ctx& c, const std::string& name);
  void DeleteTask(Ctx& c, const std::string& name);
  void RunTask(Ctx& c, const std::string& name);
  // Authenticated by the task's webhook secret, not by a user.
  void Webhook(http::Request& req, http::Response& resp, const std::string& name);
  void ImageDependents(Ctx& c);
  // repositories.cc: GET /images/packages?name=N[&version=V]: which images
  // contain a package, from the SBOMs pushed with them.
  void ImagesWithPackage(Ctx& c);
  // Admins, the owner, and users who may pull one of its output repositories.
  bool CanReadTask(const auth::Identity& who, const tasks::Task& t);
  // Answers 403 unless the user may push to every repository the task pushes to.
  bool CanPushTask(Ctx& c, const tasks::Task& t);
  // The task or false after answering: only its owner or an admin changes it.
  bool LoadManagedTask(Ctx& c, const std::string& name, tasks::Task& task);
  nlohmann::json TaskView(const auth::Identity& who, const tasks::Task& t);

  void ListRepositories(Ctx& c);
  void ListEvents(Ctx& c);
  void ListTags(Ctx& c, const std::string& repo);
  void DeleteRepository(Ctx& c, const std::string& repo);
  void DeleteTag(Ctx& c, const std::string& repo, const std::string& tag);
  // Records and publishes a delete event.

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
