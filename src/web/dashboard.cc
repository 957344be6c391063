#include "web/dashboard.h"

#include <array>
#include <string_view>

#include "web/assets.h"

namespace drydock::web {
namespace {

// The page's own URLs (web/src/main.tsx): each loads index.html.
bool IsPage(std::string_view path) {
  static constexpr std::array<std::string_view, 4> kExact = {"/", "/signin", "/graph", "/runs"};
  static constexpr std::array<std::string_view, 3> kPrefixes = {"/repositories", "/runs/",
                                                                "/tasks"};
  for (auto p : kExact)
    if (path == p) return true;
  for (auto p : kPrefixes)
    if (path.starts_with(p)) return true;
  return false;
}

const Asset* Find(std::string_view path) {
  for (const Asset& a : Assets())
    if (path == a.path) return &a;
  return nullptr;
}

bool AcceptsGzip(const http::Request& req) {
  return req.Header("Accept-Encoding").find("gzip") != std::string::npos;
}

}  // namespace

bool ServeDashboard(const http::Request& req, http::Response& resp) {
  if (req.method != "GET" && req.method != "HEAD") return false;
  const Asset* asset = Find(req.path);
  if (!asset && IsPage(req.path)) asset = Find("/index.html");
  if (!asset) return false;
  resp.route = asset->immutable ? "dashboard_asset" : "dashboard";
  resp.Set("Content-Type", asset->content_type);
  resp.Set("X-Content-Type-Options", "nosniff");
  resp.Set("Vary", "Accept-Encoding");
  if (asset->immutable) {
    resp.Set("Cache-Control", "public, max-age=31536000, immutable");
  } else {
    // The page names the current files: always asked for again.
    resp.Set("Cache-Control", "no-cache");
    resp.Set("Content-Security-Policy",
             "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
             "frame-ancestors 'none'; form-action 'self'");
    resp.Set("Referrer-Policy", "same-origin");
  }
  bool gzip = AcceptsGzip(req);
  if (gzip) resp.Set("Content-Encoding", "gzip");
  resp.body = std::string(gzip ? asset->gzip : asset->plain);
  resp.head_only = req.method == "HEAD";
  return true;
}

}  // namespace drydock::web
