#include "remote/client.h"
#include "base/json.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include <curl/curl.h>

#include "base/base64.h"
#include "base/fd.h"
#include "remote/http_client.h"

namespace drydock::remote {
namespace {

using nlohmann::json;

constexpr const char* kManifestAccept =
    "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

std::string HostOnly(const std::string& registry) {
  if (!registry.empty() && registry[0] == '[') return registry.substr(0, registry.find(']') + 1);
  return registry.substr(
      0, registry.rfind(':') == std::string::npos ? registry.size() : registry.rfind(':'));
}

bool IsLoopback(const std::string& registry) {
  std::string host = HostOnly(registry);
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "[::1]";
}

// Registry error bodies carry {"errors":[{"code","message"}]}: surface them.
std::string Describe(const HttpResponse& r) {
  json j = ParseJson(r.body).value_or(json());
  if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
    const auto& e = j["errors"][0];
    return "HTTP " + std::to_string(r.status) + " " + e.value("code", "") + ": " +
           e.value("message", "");
  }
  return "HTTP " + std::to_string(r.status);
}

Status StatusFor(const HttpResponse& r, const std::string& what) {
  std::string msg = what + ": " + Describe(r);
  if (r.status == 404) return NotFound(msg);
  if (r.status == 401) return Status(Code::kUnauthenticated, msg);
  if (r.status == 403) return Status(Code::kDenied, msg);
  return Status(r.status >= 500 ? Code::kUnavailable : Code::kInvalid, msg);
}

}  // namespace

CredentialLookup DockerConfigCredentials(const std::filesystem::path& path) {
  std::map<std::string, Credential> creds;
  std::ifstream f(path);
  json j = json::parse(f, nullptr, false);
  if (j.is_object() && j.contains("auths") && j["auths"].is_object()) {
    for (const auto& [host, entry] : j["auths"].items()) {
      if (!entry.is_object()) continue;
      std::string auth = Base64Decode(entry.value("auth", ""));
      auto colon = auth.find(':');
      if (colon == std::string::npos) continue;
      std::string key = host;
      for (const char* prefix : {"https://", "http://"}) {
        if (key.rfind(prefix, 0) == 0) key = key.substr(std::strlen(prefix));
      }
      key = key.substr(0, key.find('/'));
      creds[key] = Credential{auth.substr(0, colon), auth.substr(colon + 1)};
    }
  }
  return [creds](const std::string& registry) -> std::optional<Credential> {
    auto it = creds.find(registry);
    if (it == creds.end() && registry == "docker.io") it = creds.find("index.docker.io");
    if (it == creds.end()) return std::nullopt;
    return it->second;
  };
}

struct Client::Impl {
  ClientOptions options;
  std::mutex mu;
  std::map<std::string, std::string> scheme;  // registry → "https://" or "http://"
  std::map<std::string, std::string> auth;    // registry + scope → Authorization header

  bool MayUsePlainHttp(const std::string& registry) const {
    if (IsLoopback(registry)) return true;
    for (const auto& r : options.insecure_registries) {
      if (r == registry || r == HostOnly(registry)) return true;
    }
    return false;
  }

  // Picks https, falling back to plain http only where allowed (as Docker does).
  std::string BaseUrl(const std::string& registry) {
    std::string host = registry == "docker.io" ? "registry-1.docker.io" : registry;
    {
      std::lock_guard lock(mu);
      if (auto it = scheme.find(registry); it != scheme.end()) return it->second + host;
    }
    std::string chosen = "https://";
    if (MayUsePlainHttp(registry)) {
      HttpRequest probe;
      probe.url = "https://" + host + "/v2/";
      probe.timeout_seconds = 10;
      if (!SendHttp(probe).ok()) chosen = "http://";
    }
    std::lock_guard lock(mu);
    scheme[registry] = chosen;
    return chosen + host;
  }

  // Answers a 401 challenge: a bearer token from the realm, or Basic.
  Result<std::string> Authorize(const std::string& registry, const std::string& challenge_header,
                                const std::string& scope) {
    auto ch = ParseChallenge(challenge_header);
    std::optional<Credential> cred =
        options.credentials ? options.credentials(registry) : std::nullopt;
    if (ch["scheme"] == "basic") {
      if (!cred)
        return Status(Code::kUnauthenticated,
                      registry + " requires credentials (drydock login / docker login)");
      return "Authorization: Basic " + Base64Encode(cred->username + ":" + cred->password);
    }
    if (ch["scheme"] != "bearer" || ch["realm"].empty()) {
      return Status(Code::kUnauthenticated,
                    registry + " sent an unsupported challenge: " + challenge_header);
    }
    std::string url = ch["realm"];
    url += url.find('?') == std::string::npos ? "?" : "&";
    char* svc = curl_easy_escape(nullptr, ch["service"].c_str(), 0);
    char* sc = curl_easy_escape(nullptr, (ch.count("scope") ? ch["scope"] : scope).c_str(), 0);
    url += std::string("service=") + svc + "&scope=" + sc;
    curl_free(svc);
    curl_free(sc);
    HttpRequest req;
    req.url = url;
    if (cred)
      req.headers.push_back("Authorization: Basic " +
                            Base64Encode(cred->username + ":" + cred->password));
    auto resp = SendHttp(req);
    if (!resp.ok()) return resp.status();
    if (resp->status != 200) return StatusFor(*resp, "token from " + ch["realm"]);
    json j = ParseJson(resp->body).value_or(json());
    std::string token = j.is_object() ? j.value("token", j.value("access_token", "")) : "";
    if (token.empty())
      return Status(Code::kUnauthenticated, "token endpoint " + ch["realm"] + " returned no token");
    return "Authorization: Bearer " + token;
  }

  // Sends with cached auth, answering one 401 challenge and retrying 5xx and
  // transport failures with backoff. `reset` rewinds a response sink.
  Result<HttpResponse> Do(const std::string& registry, const std::string& scope, HttpRequest req,
                          const std::function<void()>& reset = nullptr) {
    std::string key = registry + " " + scope;
    std::string header;
    {
      std::lock_guard lock(mu);
      header = auth[key];
    }
    bool answered_challenge = false;
    int delay_ms = 200;
    for (int attempt = 1;; ++attempt) {
      HttpRequest r = req;
      if (!header.empty()) r.headers.push_back(header);
      auto resp = SendHttp(r);
      bool transient =
          !resp.ok() ? resp.status().code() == Code::kUnavailable : resp->status >= 500;
      if (resp.ok() && resp->status == 401 && !answered_challenge) {
        auto h = Authorize(registry, resp->Header("www-authenticate"), scope);
        if (!h.ok()) return h.status();
        header = *h;
        {
          std::lock_guard lock(mu);
          auth[key] = header;
        }
        answered_challenge = true;
        if (reset) reset();
        continue;
      }
      if (!transient || attempt >= options.max_attempts) return resp;
      if (reset) reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      delay_ms *= 4;
    }
  }

  std::string Url(const oci::ImageReference& ref, const std::string& path) {
    return BaseUrl(ref.registry) + "/v2/" + ref.repository + path;
  }
  static std::string Pull(const oci::ImageReference& r) {
    return "repository:" + r.repository + ":pull";
  }
  static std::string Push(const oci::ImageReference& r) {
    return "repository:" + r.repository + ":pull,push";
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}
Client::~Client() = default;

Result<Manifest> Client::GetManifest(const oci::ImageReference& ref) {
  HttpRequest req;
  req.url = impl_->Url(ref, "/manifests/" + ref.Reference());
  req.headers.push_back(kManifestAccept);
  req.body_limit = 16 * 1024 * 1024;
  auto resp = impl_->Do(ref.registry, Impl::Pull(ref), req);
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) return StatusFor(*resp, "manifest " + ref.String());
  Manifest m;
  m.bytes = std::move(resp->body);
  m.media_type = resp->Header("content-type").substr(0, resp->Header("content-type").find(';'));
  m.digest =
      oci::Digest::Of(m.bytes, ref.digest ? ref.digest->algorithm() : oci::Algorithm::kSha256);
  if (ref.digest && m.digest != *ref.digest) {
    return Invalid("manifest " + ref.String() + " has digest " + m.digest.str() +
                   ": the registry served other bytes");
  }
  if (m.media_type.empty() || m.media_type == "application/json" || m.media_type == "text/plain") {
    json j = ParseJson(m.bytes).value_or(json());
    if (j.is_object()) m.media_type = j.value("mediaType", std::string());
  }
  return m;
}

Result<oci::Digest> Client::ResolveDigest(const oci::ImageReference& ref) {
  HttpRequest req;
  req.method = "HEAD";
  req.url = impl_->Url(ref, "/manifests/" + ref.Reference());
  req.headers.push_back(kManifestAccept);
  auto resp = impl_->Do(ref.registry, Impl::Pull(ref), req);
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) return StatusFor(*resp, "manifest " + ref.String());
  auto d = oci::Digest::Parse(resp->Header("docker-content-digest"));
  if (d.ok()) return d;
  auto m = GetManifest(ref);  // registries may omit the header: hash the bytes instead
  if (!m.ok()) return m.status();
  return m->digest;
}

Status Client::FetchBlob(const oci::ImageReference& repo, const oci::Digest& digest,
                         const std::filesystem::path& dest) {
  UniqueFd fd(::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return Internal("create " + dest.string() + ": " + std::strerror(errno));
  oci::Hasher hasher(digest.algorithm());
  HttpRequest req;
  req.url = impl_->Url(repo, "/blobs/" + digest.str());
  req.sink = [&](const char* data, size_t n) {
    hasher.Update(data, n);
    for (size_t done = 0; done < n;) {
      ssize_t w = ::write(fd.get(), data + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      done += static_cast<size_t>(w);
    }
    return true;
  };
  auto reset = [&] {
    hasher = oci::Hasher(digest.algorithm());
    // A failure here fails the digest check of the retry, which is reported.
    (void)::ftruncate(fd.get(), 0);
    (void)::lseek(fd.get(), 0, SEEK_SET);
  };
  auto resp = impl_->Do(repo.registry, Impl::Pull(repo), req, reset);
  if (!resp.ok()) return resp.status();
  if (resp->status != 200)
    return StatusFor(*resp, "blob " + digest.str() + " from " + repo.RepositoryWithRegistry());
  if (hasher.Peek() != digest) {
    ::unlink(dest.c_str());
    return Invalid("blob from " + repo.RepositoryWithRegistry() + " has digest " +
                   hasher.Peek().str() + ", expected " + digest.str());
  }
  return Status::Ok();
}

Result<std::string> Client::FetchBlobBytes(const oci::ImageReference& repo,
                                           const oci::Digest& digest, size_t limit) {
  HttpRequest req;
  req.url = impl_->Url(repo, "/blobs/" + digest.str());
  req.body_limit = limit;
  auto resp = impl_->Do(repo.registry, Impl::Pull(repo), req);
  if (!resp.ok()) return resp.status();
  if (resp->status != 200)
    return StatusFor(*resp, "blob " + digest.str() + " from " + repo.RepositoryWithRegistry());
  if (oci::Digest::Of(resp->body, digest.algorithm()) != digest) {
    return Invalid("blob " + digest.str() + " from " + repo.RepositoryWithRegistry() +
                   " does not match its digest");
  }
  return std::move(resp->body);
}

Result<bool> Client::HasBlob(const oci::ImageReference& repo, const oci::Digest& digest) {
  HttpRequest req;
  req.method = "HEAD";
  req.url = impl_->Url(repo, "/blobs/" + digest.str());
  auto resp = impl_->Do(repo.registry, Impl::Push(repo), req);
  if (!resp.ok()) return resp.status();
  if (resp->status == 200) return true;
  if (resp->status == 404) return false;
  return StatusFor(*resp, "blob " + digest.str());
}

namespace {

// Resolves an upload Location (absolute or relative) and adds ?digest=.
std::string FinishUrl(const std::string& base, const std::string& location, const oci::Digest& d) {
  std::string url = location.rfind("http", 0) == 0 ? location : base + location;
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "digest=" + d.str();
}

}  // namespace

Status Client::PushBlob(const oci::ImageReference& repo, const oci::Digest& digest,
                        const std::filesystem::path& file, const std::string& mount_from) {
  auto has = HasBlob(repo, digest);
  if (has.ok() && *has) return Status::Ok();
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Internal("open " + file.string() + ": " + std::strerror(errno));
  struct stat st;
  ::fstat(fd.get(), &st);
  std::string base = impl_->BaseUrl(repo.registry);
  HttpRequest start;
  start.method = "POST";
  static const std::string kEmpty;
  start.body = kEmpty;
  start.url = impl_->Url(repo, "/blobs/uploads/");
  if (!mount_from.empty() && mount_from != repo.repository) {
    start.url += "?mount=" + digest.str() + "&from=" + mount_from;
  }
  auto started = impl_->Do(repo.registry, Impl::Push(repo), start);
  if (!started.ok()) return started.status();
  if (started->status == 201) return Status::Ok();  // mounted
  if (started->status != 202)
    return StatusFor(*started, "start upload to " + repo.RepositoryWithRegistry());
  HttpRequest put;
  put.method = "PUT";
  put.url = FinishUrl(base, started->Header("location"), digest);
  put.headers.push_back("Content-Type: application/octet-stream");
  put.body_fd = fd.get();
  put.body_size = static_cast<uint64_t>(st.st_size);
  auto done = impl_->Do(repo.registry, Impl::Push(repo), put);
  if (!done.ok()) return done.status();
  if (done->status != 201)
    return StatusFor(*done, "upload " + digest.str() + " to " + repo.RepositoryWithRegistry());
  return Status::Ok();
}

Result<bool> Client::MountBlob(const oci::ImageReference& repo, const oci::Digest& digest,
                               const std::string& from) {
  auto has = HasBlob(repo, digest);
  if (has.ok() && *has) return true;
  HttpRequest start;
  start.method = "POST";
  static const std::string kEmpty;
  start.body = kEmpty;
  start.url = impl_->Url(repo, "/blobs/uploads/?mount=" + digest.str() + "&from=" + from);
  auto started = impl_->Do(repo.registry, Impl::Push(repo), start);
  if (!started.ok()) return started.status();
  if (started->status == 201) return true;
  if (started->status != 202)
    return StatusFor(*started, "mount " + digest.str() + " into " + repo.RepositoryWithRegistry());
  // Declined: the registry opened an upload session instead; close it.
  HttpRequest cancel;
  cancel.method = "DELETE";
  cancel.url = FinishUrl(impl_->BaseUrl(repo.registry), started->Header("location"), digest);
  (void)impl_->Do(repo.registry, Impl::Push(repo), cancel);
  return false;
}

Status Client::PushBlobBytes(const oci::ImageReference& repo, const oci::Digest& digest,
                             const std::string& bytes) {
  auto has = HasBlob(repo, digest);
  if (has.ok() && *has) return Status::Ok();
  HttpRequest req;
  req.method = "POST";
  req.url = impl_->Url(repo, "/blobs/uploads/?digest=" + digest.str());
  req.headers.push_back("Content-Type: application/octet-stream");
  req.body = bytes;
  req.body_size = bytes.size();
  auto resp = impl_->Do(repo.registry, Impl::Push(repo), req);
  if (!resp.ok()) return resp.status();
  if (resp->status == 201) return Status::Ok();
  if (resp->status != 202) return StatusFor(*resp, "upload " + digest.str());
  // The registry opened a session instead of taking the body: finish it.
  HttpRequest put;
  put.method = "PUT";
  put.url = FinishUrl(impl_->BaseUrl(repo.registry), resp->Header("location"), digest);
  put.body = bytes;
  put.body_size = bytes.size();
  auto done = impl_->Do(repo.registry, Impl::Push(repo), put);
  if (!done.ok()) return done.status();
  if (done->status != 201) return StatusFor(*done, "upload " + digest.str());
  return Status::Ok();
}

Result<oci::Digest> Client::PushManifest(const oci::ImageReference& ref, const std::string& bytes,
                                         const std::string& media_type) {
  HttpRequest req;
  req.method = "PUT";
  req.url = impl_->Url(ref, "/manifests/" + ref.Reference());
  req.headers.push_back("Content-Type: " + media_type);
  req.body = bytes;
  req.body_size = bytes.size();
  auto resp = impl_->Do(ref.registry, Impl::Push(ref), req);
  if (!resp.ok()) return resp.status();
  if (resp->status != 201 && resp->status != 200)
    return StatusFor(*resp, "push manifest " + ref.String());
  return oci::Digest::Of(bytes);
}

Result<std::vector<Referrer>> Client::ListReferrers(const oci::ImageReference& repo,
                                                    const oci::Digest& subject,
                                                    const std::string& artifact_type) {
  HttpRequest req;
  req.url = impl_->Url(repo, "/referrers/" + subject.str());
  req.body_limit = 4 * 1024 * 1024;
  auto resp = impl_->Do(repo.registry, Impl::Pull(repo), req);
  if (!resp.ok()) return resp.status();
  const std::string what = "referrers of " + repo.RepositoryWithRegistry() + "@" + subject.str();
  if (resp->status != 200) return StatusFor(*resp, what);
  auto index = ParseJson(resp->body);
  if (!index.ok() || !index->is_object() || !index->contains("manifests") ||
      !(*index)["manifests"].is_array())
    return Invalid(what + ": the registry's answer is not an image index");
  auto text = [](const json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::vector<Referrer> out;
  for (const auto& d : (*index)["manifests"]) {
    if (!d.is_object()) continue;
    auto digest = oci::Digest::Parse(text(d, "digest"));
    if (!digest.ok()) continue;
    Referrer r;
    r.digest = *digest;
    r.media_type = text(d, "mediaType");
    r.artifact_type = text(d, "artifactType");
    if (auto size = d.find("size"); size != d.end() && size->is_number_integer())
      r.size = size->get<int64_t>();
    if (auto a = d.find("annotations"); a != d.end() && a->is_object())
      for (const auto& [k, v] : a->items())
        if (v.is_string()) r.annotations[k] = v.get<std::string>();
    // Filtered here: a registry may ignore the artifactType query.
    if (artifact_type.empty() || r.artifact_type == artifact_type) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace drydock::remote
