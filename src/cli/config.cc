#include "cli/config.h"

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>

#include "attest/attest.h"
#include "base/strings.h"

namespace drydock::cli {
namespace {

template <typename T>
void Read(const YAML::Node& n, const char* key, T& out) {
  if (n && n[key]) out = n[key].as<T>();
}

// builds.limits: {pids: 4096, memory: 4G, cpus: 1.5, disk: 20G}; 0 lifts one.
Status ReadLimits(const YAML::Node& l, const std::string& path, runtime::Limits& out) {
  Read(l, "pids", out.pids);
  Read(l, "cpus", out.cpus);
  for (const char* key : {"memory", "disk"}) {
    if (!l[key]) continue;
    auto size = ParseByteSize(l[key].as<std::string>());
    if (!size.ok())
      return Invalid(path + ": builds.limits." + key + ": " + size.status().message());
    if (key == std::string_view("memory"))
      out.memory_bytes = static_cast<int64_t>(*size);
    else
      out.disk_bytes = *size;
  }
  if (out.pids < 0 || out.cpus < 0) return Invalid(path + ": builds.limits must be >= 0");
  return Status::Ok();
}

// builds.user_namespace: true (the default ids), false, or "HOST_ID:SIZE".
Status ReadUserNamespace(const YAML::Node& n, std::optional<runtime::IdMapping>& out) {
  if (!n) return Status::Ok();
  std::string v = n.as<std::string>();
  if (v == "false") {
    out.reset();
    return Status::Ok();
  }
  runtime::IdMapping m;
  if (v != "true") {
    unsigned long long host = 0, size = 0;
    char tail = 0;
    if (std::sscanf(v.c_str(), "%llu:%llu%c", &host, &size, &tail) != 2 || host > 0xFFFFFFFFull ||
        size > 0xFFFFFFFFull)
      return Invalid(
          "builds.user_namespace must be true, false or HOST_ID:SIZE (e.g. "
          "100000:65536), not " +
          v);
    m = {static_cast<uint32_t>(host), static_cast<uint32_t>(size)};
  }
  out = m;
  return Status::Ok();
}

// Reads a whole number in [min, max] at section.key; absent keeps `out`.
template <typename T>
Status ReadBounded(const YAML::Node& n, const char* section, const char* key, int64_t min,
                   int64_t max, T& out) {
  if (!n || !n[key]) return Status::Ok();
  auto v = n[key].as<int64_t>();
  if (v < min || v > max) {
    return Invalid(std::string(section) + "." + key + " must be " + std::to_string(min) + "-" +
                   std::to_string(max));
  }
  out = static_cast<T>(v);
  return Status::Ok();
}

Status ReadSeconds(const YAML::Node& n, const char* section, const char* key, int64_t max,
                   std::chrono::milliseconds& out) {
  int64_t seconds = std::chrono::duration_cast<std::chrono::seconds>(out).count();
  DD_RETURN_IF_ERROR(ReadBounded(n, section, key, 1, max, seconds));
  out = std::chrono::seconds(seconds);
  return Status::Ok();
}

// The `http` section: what hostile or broken clients may cost the server.
Status ReadHttp(const YAML::Node& h, http::ServerOptions& o) {
  constexpr int64_t kDay = 24 * 3600;
  constexpr int64_t kMaxCount = 1 << 20;
  DD_RETURN_IF_ERROR(ReadSeconds(h, "http", "header_timeout_seconds", kDay, o.header_timeout));
  DD_RETURN_IF_ERROR(
      ReadSeconds(h, "http", "body_idle_timeout_seconds", kDay, o.body_idle_timeout));
  DD_RETURN_IF_ERROR(ReadBounded(h, "http", "max_connections", 1, kMaxCount, o.max_connections));
  DD_RETURN_IF_ERROR(ReadBounded(h, "http", "max_connections_per_client", 1, kMaxCount,
                                 o.max_connections_per_client));
  DD_RETURN_IF_ERROR(ReadBounded(h, "http", "max_workers", 1, 65536, o.max_workers));
  // Docker's own heads are about 2 KiB; below these even ordinary clients fail.
  DD_RETURN_IF_ERROR(ReadBounded(h, "http", "max_header_bytes", 4096,
                                 std::numeric_limits<uint32_t>::max(), o.max_header_bytes));
  DD_RETURN_IF_ERROR(ReadBounded(h, "http", "max_target_bytes", 1024,
                                 std::numeric_limits<uint32_t>::max(), o.max_target_bytes));
  // The request line is part of the head: a longer target could never arrive.
  if (o.max_target_bytes > o.max_header_bytes)
    return Invalid("http.max_target_bytes must not exceed http.max_header_bytes");
  return Status::Ok();
}

// A secret named by storage.blobs.s3.<what>_env (an environment variable,
// `default_env` when unset) or <what>_file (a file, trailing newline dropped).
Result<std::string> ReadSecret(const YAML::Node& s3, const std::string& what,
                               const char* default_env) {
  const std::string key = "storage.blobs.s3." + what;
  if (s3[what])
    return Invalid(key + ": secrets are not read from the configuration file; name an " +
                   "environment variable (" + what + "_env) or a file (" + what + "_file)");
  if (auto file = s3[what + "_file"]) {
    std::ifstream in(file.as<std::string>());
    std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (!in || value.empty()) return Invalid(key + "_file: cannot read " + file.as<std::string>());
    return value;
  }
  std::string env = s3[what + "_env"] ? s3[what + "_env"].as<std::string>() : default_env;
  const char* value = std::getenv(env.c_str());
  if (!value || !*value)
    return Invalid(key + "_env: the environment variable " + env + " is not set");
  return std::string(value);
}

// storage.metadata: a PostgreSQL URL without a password (libpq reads it
// from PGPASSWORD or a password file, so it never sits in the YAML).
Status CheckMetadataUrl(const std::string& url) {
  if (url.empty() || url == "sqlite") return Status::Ok();
  if (url.rfind("postgres://", 0) != 0 && url.rfind("postgresql://", 0) != 0)
    return Invalid(
        "storage.metadata must be a postgres:// URL (or absent for SQLite in the data "
        "directory), not '" +
        url + "'");
  std::string authority = url.substr(url.find("://") + 3);
  authority = authority.substr(0, authority.find_first_of("/?"));
  auto at = authority.rfind('@');
  bool password_in_userinfo =
      at != std::string::npos && authority.substr(0, at).find(':') != std::string::npos;
  if (password_in_userinfo || url.find("password=") != std::string::npos)
    return Invalid(
        "storage.metadata: passwords are not read from the configuration file; set "
        "PGPASSWORD or name a password file (passfile=… or ~/.pgpass)");
  return Status::Ok();
}

// storage.blobs.s3: {endpoint, bucket, region, prefix, part_size, access_key_env, secret_key_env}.
Status ReadS3(const YAML::Node& n, storage::S3Config& out) {
  Read(n, "endpoint", out.endpoint);
  Read(n, "bucket", out.bucket);
  Read(n, "region", out.region);
  Read(n, "prefix", out.prefix);
  if (n["redirect"] && n["redirect"].as<bool>()) out.redirect_seconds = 1200;
  Status s = ReadBounded(n, "storage.blobs.s3", "redirect_seconds", 1, 7 * 24 * 3600,
                         out.redirect_seconds);
  if (!s.ok()) return s;
  if (out.endpoint.rfind("http://", 0) != 0 && out.endpoint.rfind("https://", 0) != 0)
    return Invalid("storage.blobs.s3.endpoint must be an http:// or https:// URL, not '" +
                   out.endpoint + "'");
  while (out.endpoint.back() == '/') out.endpoint.pop_back();
  if (out.bucket.empty()) return Invalid("storage.blobs.s3.bucket is missing");
  if (!out.prefix.empty() && out.prefix.back() != '/') out.prefix += '/';
  if (n["part_size"]) {
    auto size = ParseByteSize(n["part_size"].as<std::string>());
    if (!size.ok()) return Invalid("storage.blobs.s3.part_size: " + size.status().message());
    out.part_size = *size;
  }
  DD_ASSIGN_OR_RETURN(access, ReadSecret(n, "access_key", "AWS_ACCESS_KEY_ID"));
  DD_ASSIGN_OR_RETURN(secret, ReadSecret(n, "secret_key", "AWS_SECRET_ACCESS_KEY"));
  out.access_key = access;
  out.secret_key = secret;
  return Status::Ok();
}

// registry.require_signed: [patterns], registry.trusted_keys: [PEM files],
// registry.unsigned_push: untagged (default) | refused.
Status ReadSigningPolicy(const YAML::Node& n, registry::Options& out) {
  Read(n, "require_signed", out.require_signed);
  std::vector<std::string> files;
  Read(n, "trusted_keys", files);
  for (const auto& file : files) {
    std::ifstream in(file);
    std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in) return Invalid("registry.trusted_keys: cannot read " + file);
    auto key = attest::Key::FromPem(pem);
    if (!key.ok()) return Invalid("registry.trusted_keys: " + file + ": " + key.status().message());
    if (key->has_private())
      return Invalid("registry.trusted_keys: " + file +
                     " holds a private key; give the public half (openssl pkey -pubout)");
    out.trusted_keys.push_back(key->PublicPem());
  }
  std::string mode = "untagged";
  Read(n, "unsigned_push", mode);
  if (mode != "untagged" && mode != "refused")
    return Invalid("registry.unsigned_push must be 'untagged' or 'refused', not '" + mode + "'");
  out.refuse_unsigned = mode == "refused";
  return Status::Ok();
}

}  // namespace

Result<std::pair<std::string, uint16_t>> SplitListen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    return Invalid("listen address '" + listen + "' must be ADDR:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  std::string port = listen.substr(colon + 1);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return Invalid("listen port in '" + listen + "' must be 0-65535");
  }
  return std::pair{host, static_cast<uint16_t>(std::stoul(port))};
}

constexpr char kNotificationNames[] =
    "manifest.push, manifest.delete, run.queued, run.started, run.running, run.succeeded, "
    "run.failed, run.canceled, run.timedout, run.error";

bool IsNotificationName(const std::string& name) {
  std::string_view names = kNotificationNames;
  for (size_t start = 0; start < names.size();) {
    size_t end = std::min(names.find(", ", start), names.size());
    if (names.substr(start, end - start) == name) return true;
    start = end + 2;
  }
  return false;
}

Result<Config> LoadConfig(const std::string& path) {
  Config c;
  if (const char* d = std::getenv("DRYDOCK_DATA"); d && *d) c.data_dir = d;
  if (const char* p = std::getenv("DRYDOCK_ADMIN_PASSWORD"); p && *p) c.admin_password = p;
  if (path.empty()) return c;
  try {
    YAML::Node y = YAML::LoadFile(path);
    Read(y, "listen", c.listen);
    Read(y, "data", c.data_dir);
    Read(y, "public_url", c.public_url);
    Read(y, "access_log", c.access_log);
    Read(y, "log_level", c.log_level);
    if (auto t = y["tls"]) {
      Read(t, "cert", c.tls_cert);
      Read(t, "key", c.tls_key);
    }
    if (auto h = y["http"]) {
      if (auto s = ReadHttp(h, c.http); !s.ok()) return Invalid(path + ": " + s.message());
    }
    if (auto a = y["auth"]) {
      Read(a, "anonymous_pull", c.auth.anonymous_pull);
      Read(a, "token_ttl_seconds", c.auth.token_ttl_seconds);
      Read(a, "max_failed_logins_per_user", c.auth.max_failed_logins_per_user);
      Read(a, "max_failed_logins_per_address", c.auth.max_failed_logins_per_address);
      Read(a, "failed_login_window_seconds", c.auth.failed_login_window_seconds);
      if (c.admin_password.empty()) Read(a, "admin_password", c.admin_password);
    }
    if (auto r = y["registry"]) {
      Read(r, "max_manifest_bytes", c.registry.max_manifest_bytes);
      if (auto s = ReadSigningPolicy(r, c.registry); !s.ok())
        return Invalid(path + ": " + s.message());
    }
    if (auto g = y["gc"]) {
      Read(g, "interval_seconds", c.gc_interval_seconds);
      Read(g, "delete_untagged", c.gc.delete_untagged);
      Read(g, "grace_seconds", c.gc.grace_seconds);
      Read(g, "upload_ttl_seconds", c.gc.upload_ttl_seconds);
    }
    if (auto b = y["builds"]) {
      Read(b, "concurrency", c.builds.concurrency);
      Status s =
          ReadBounded(b, "builds", "agent_lease_seconds", 3, 3600, c.builds.agent_lease_seconds);
      if (s.ok())
        s = ReadBounded(b, "builds", "agent_max_attempts", 1, 100, c.builds.agent_max_attempts);
      if (s.ok())
        s = ReadBounded(b, "builds", "agent_emulated_wait_seconds", 0, 86400,
                        c.builds.agent_emulated_wait_seconds);
      if (!s.ok()) return Invalid(path + ": " + s.message());
      Read(b, "state_dir", c.builds.state_dir);
      Read(b, "max_context_bytes", c.builds.max_context_bytes);
      Read(b, "cache_max_bytes", c.builds.cache_max_bytes);
      Read(b, "image_aliases", c.builds.image_aliases);
      Read(b, "allow_privileged_steps", c.builds.allow_privileged_steps);
      Read(b, "allow_private_fetches", c.builds.allow_private_fetches);
      Read(b, "attestations", c.builds.attestations);
      Read(b, "signing_key_file", c.builds.signing_key_file);
      if (auto l = b["limits"]) DD_RETURN_IF_ERROR(ReadLimits(l, path, c.builds.limits));
      if (auto s = ReadUserNamespace(b["user_namespace"], c.builds.user_namespace); !s.ok())
        return Invalid(path + ": " + s.message());
    }
    if (auto e = y["events"]) {
      Status s = ReadBounded(e, "events", "retention_days", 1, 3650, c.events.retention_days);
      if (s.ok()) s = ReadBounded(e, "events", "min_kept", 0, int64_t{1} << 40, c.events.min_kept);
      if (!s.ok()) return Invalid(path + ": " + s.message());
    }
    if (auto m = y["storage"]["metadata"]) {
      c.storage.metadata = m.as<std::string>();
      if (Status st = CheckMetadataUrl(c.storage.metadata); !st.ok())
        return Invalid(path + ": " + st.message());
      if (c.storage.metadata == "sqlite") c.storage.metadata.clear();
    }
    if (auto s3 = y["storage"]["blobs"]["s3"]) {
      storage::S3Config config;
      if (Status st = ReadS3(s3, config); !st.ok()) return Invalid(path + ": " + st.message());
      c.storage.s3 = std::move(config);
    }
    if (auto t = y["triggers"]) {
      Read(t, "base_image_poll_seconds", c.triggers.base_image_poll_seconds);
      Read(t, "min_poll_seconds", c.triggers.min_poll_seconds);
    }
    if (auto list = y["notifications"]) {
      for (const auto& n : list) {
        events::Endpoint e;
        Read(n, "name", e.name);
        Read(n, "url", e.url);
        Read(n, "headers", e.headers);
        Read(n, "timeout_ms", e.timeout_ms);
        Read(n, "max_attempts", e.max_attempts);
        Read(n, "backoff_ms", e.backoff_ms);
        Read(n, "events", e.events);
        Read(n, "repositories", e.repositories);
        Read(n, "tasks", e.tasks);
        Read(n, "secret", e.secret);
        if (e.url.empty()) return Invalid(path + ": every notifications entry needs a url");
        for (const auto& name : e.events)
          if (!IsNotificationName(name))
            return Invalid(path + ": notifications " + (e.name.empty() ? e.url : e.name) +
                           ": unknown event '" + name + "' (" + kNotificationNames + ")");
        if (e.name.empty()) e.name = e.url;
        c.notifications.push_back(std::move(e));
      }
    }
  } catch (const YAML::Exception& e) {
    return Invalid("config " + path + ": " + e.what());
  }
  if (c.gc.grace_seconds < 0 || c.gc_interval_seconds < 0)
    return Invalid(path + ": gc durations must be >= 0");
  if (c.builds.concurrency < 0 || c.builds.concurrency > 256)
    return Invalid(path +
                   ": builds.concurrency must be 0-256 (0: no embedded agent, remote agents build "
                   "everything)");
  if (c.triggers.min_poll_seconds < 1)
    return Invalid(path + ": triggers.min_poll_seconds must be at least 1");
  if (c.triggers.base_image_poll_seconds < c.triggers.min_poll_seconds)
    return Invalid(path + ": triggers.base_image_poll_seconds must be at least min_poll_seconds (" +
                   std::to_string(c.triggers.min_poll_seconds) + ")");
  if (c.builds.max_context_bytes == 0)
    return Invalid(path + ": builds.max_context_bytes must be > 0");
  return c;
}

}  // namespace drydock::cli
