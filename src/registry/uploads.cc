// Blob uploads: POST (session, monolithic, mount), PATCH, PUT, GET, DELETE.
// A session's bytes live in the blob store's staging area; its record in
// the metadata store ties it to a repository so it survives a restart.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <vector>

#include "base/random.h"
#include "oci/reference.h"
#include "registry/impl.h"

namespace drydock::registry {
namespace {

struct ContentRange {
  uint64_t first = 0, last = 0;
};

// Accepts "a-b" as the spec writes it, and the "bytes a-b[/n]" / "bytes=a-b" forms some clients
// send.
Result<std::optional<ContentRange>> ParseContentRange(std::string h) {
  if (h.empty()) return std::optional<ContentRange>();
  if (h.rfind("bytes", 0) == 0) h = h.substr(h.find_first_not_of("bytes= "));
  if (auto slash = h.find('/'); slash != std::string::npos) h.resize(slash);
  auto dash = h.find('-');
  auto digits = [](const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  };
  if (dash == std::string::npos || !digits(h.substr(0, dash)) || !digits(h.substr(dash + 1))) {
    return Invalid("malformed Content-Range '" + h + "'");
  }
  ContentRange r{std::strtoull(h.c_str(), nullptr, 10),
                 std::strtoull(h.c_str() + dash + 1, nullptr, 10)};
  if (r.last < r.first) return Invalid("Content-Range end is before its start");
  return std::optional<ContentRange>(r);
}

// Streams the request body into the upload; returns the byte count.
Result<uint64_t> Pump(http::Request& req, storage::BlobWriter& w) {
  // Sized to the body (a config blob is a few hundred bytes), never zero-filled.
  size_t size = std::clamp<uint64_t>(req.content_length.value_or(1 << 20), 4096, 1 << 20);
  std::unique_ptr<char[]> buf(new char[size]);
  uint64_t total = 0;
  while (true) {
    auto n = req.body->Read(buf.get(), size);
    if (!n.ok()) return n.status();
    if (*n == 0) return total;
    DD_RETURN_IF_ERROR(w.Write(buf.get(), *n));
    total += *n;
  }
}

std::string UploadLocation(const std::string& repo, const std::string& id) {
  return "/v2/" + repo + "/blobs/uploads/" + id;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void Registry::Impl::SendUploadState(Ctx& c, int status, const std::string& id, uint64_t size) {
  c.resp.status = status;
  c.resp.Set("Location", UploadLocation(c.repo, id));
  // Inclusive end offset; an empty upload reports 0-0 as distribution does.
  c.resp.Set("Range", "0-" + std::to_string(size == 0 ? 0 : size - 1));
  c.resp.Set("Docker-Upload-UUID", id);
}

// Under uploads_mu: the session for `id`, made when missing; sessions idle
// for long (and not in use) leave memory on the way.
std::shared_ptr<UploadSession> Registry::Impl::SessionSlot(const std::string& id) {
  int64_t now = NowMs();
  std::erase_if(uploads, [now](const auto& entry) {
    const auto& s = entry.second;
    return now - s->last_used_ms > kIdleUploadSessionMs && s.use_count() == 1;
  });
  auto& slot = uploads[id];
  if (!slot) slot = std::make_shared<UploadSession>();
  slot->last_used_ms = now;
  return slot;
}

std::optional<OpenSession> Registry::Impl::FindSession(Ctx& c, const std::string& id) {
  std::shared_ptr<UploadSession> session;
  {
    std::lock_guard lock(uploads_mu);
    session = SessionSlot(id);
  }
  std::unique_lock lock(session->mu);
  auto record = meta.GetUpload(id);
  if (!record.ok() || record->repo != c.repo) {
    session->writer.reset();
    {
      std::lock_guard map_lock(uploads_mu);  // unknown ids cost no memory
      auto it = uploads.find(id);
      if (it != uploads.end() && it->second == session) uploads.erase(it);
    }
    SendError(c.resp, 404, "BLOB_UPLOAD_UNKNOWN",
              "upload " + id + " is not in progress in " + c.repo);
    return std::nullopt;
  }
  // Not in memory (started before a restart), or another server sharing the
  // stores took a chunk since: continue from the recorded checkpoint.
  auto& w = session->writer;
  if (!w || w->checkpoint() != record->checkpoint) {
    auto resumed = blobs.ResumeUpload(id, record->checkpoint);
    if (!resumed.ok()) {
      w.reset();
      if (resumed.status().code() == Code::kNotFound)
        (void)meta.DeleteUpload(id);  // a record left behind is removed by GC
      SendError(c.resp, resumed.status().code() == Code::kNotFound ? 404 : 503,
                "BLOB_UPLOAD_UNKNOWN", "upload " + id + " was lost: " + resumed.status().message());
      return std::nullopt;
    }
    w = std::move(*resumed);
  }
  return OpenSession{std::move(session), std::move(lock)};
}

void Registry::Impl::DropSession(const std::string& id) {
  (void)meta.DeleteUpload(id);  // a record left behind is removed by GC
  std::lock_guard lock(uploads_mu);
  uploads.erase(id);
}

Result<storage::BlobInfo> Registry::Impl::Finish(Ctx& c, storage::BlobWriter& w,
                                                 const oci::Digest& d) {
  std::shared_lock gc_lock(gc_mu);
  auto info = w.Commit(d);
  if (!info.ok()) return info.status();
  DD_RETURN_IF_ERROR(meta.LinkBlob(c.repo, d, info->size));
  // GC on another server (sharing the stores) may have deleted the blob
  // between the commit and the link: it claims a blob only while nothing
  // links it, and LinkBlob refuses a claimed one, so if the blob is still
  // there now, it stays.
  if (!blobs.Stat(d).ok()) {
    (void)meta.UnlinkBlob(c.repo, d);
    return Status(Code::kUnavailable,
                  "blob " + d.str() + " was deleted by garbage collection: upload it again");
  }
  return info;
}

void Registry::Impl::StartUpload(Ctx& c) {
  auto& req = c.req;
  auto mount = req.Query("mount");
  auto from = req.Query("from");
  bool mounting = mount && from && oci::ValidateRepositoryName(*from).ok();
  // The challenge names the source's pull scope too, as distribution's
  // does: a token client then asks for a token that can mount.
  std::string from_scope = mounting && *from != c.repo ? "repository:" + *from + ":pull" : "";
  if (!Authorize(c, auth::kPush, from_scope)) return;
  if (mounting && !(auth.Allowed(c.who, *from) & auth::kPull)) {
    // A token without the source whose user may read it: one more token
    // request gets a mount. Otherwise a normal upload session (202), as
    // the spec asks.
    auth::Identity user = c.who;
    user.token_access.reset();
    if (c.who.token_access && (auth.Allowed(user, *from) & auth::kPull)) {
      return Challenge(c, "repository:" + c.repo + ":pull,push " + from_scope, "UNAUTHORIZED",
                       "mounting from " + *from + " needs its pull scope in the token");
    }
    mounting = false;
  }
  auto m = mounting ? oci::Digest::Parse(*mount) : Result<oci::Digest>(Invalid("no mount"));
  if (m.ok()) {
    std::shared_lock gc_lock(gc_mu);
    auto size = meta.LinkedBlobSize(*from, *m);
    if (size.ok() && *size && blobs.Stat(*m).ok() && meta.LinkBlob(c.repo, *m, **size).ok()) {
      c.resp.status = 201;
      c.resp.Set("Location", "/v2/" + c.repo + "/blobs/" + m->str());
      c.resp.Set("Docker-Content-Digest", m->str());
      return;
    }
  }
  if (auto digest = req.Query("digest")) {  // monolithic upload in one POST
    auto d = oci::Digest::Parse(*digest);
    if (!d.ok()) return SendError(c.resp, 400, "DIGEST_INVALID", d.status().message());
    auto w = blobs.CreateUpload(RandomUuid());
    if (!w.ok()) return SendStatus(c.resp, w.status(), "BLOB_UPLOAD_UNKNOWN");
    auto pumped = Pump(req, **w);
    if (!pumped.ok()) {
      (void)blobs.DeleteUpload((*w)->id());  // staging files left behind are GC's
      return SendError(c.resp, 400, "BLOB_UPLOAD_INVALID", pumped.status().message());
    }
    auto info = Finish(c, **w, *d);
    if (!info.ok()) {
      (void)blobs.DeleteUpload((*w)->id());  // as above
      return SendError(c.resp, info.status().code() == Code::kInvalid ? 400 : 500, "DIGEST_INVALID",
                       info.status().message());
    }
    c.resp.status = 201;
    c.resp.Set("Location", "/v2/" + c.repo + "/blobs/" + d->str());
    c.resp.Set("Docker-Content-Digest", d->str());
    return;
  }
  // The record first: then a blob upload without one is only ever what a
  // crash left, which RecoverUploads may remove while other servers run.
  std::string id = RandomUuid();
  auto record = meta.CreateUpload(
      storage::UploadRecord{id, c.repo, static_cast<int64_t>(::time(nullptr)), ""});
  if (!record.ok()) return SendStatus(c.resp, record, "BLOB_UPLOAD_UNKNOWN");
  auto w = blobs.CreateUpload(id);
  Result<bool> started = w.ok() ? meta.AdvanceUpload(id, "", (*w)->checkpoint()) : w.status();
  if (!started.ok() || !*started) {
    if (w.ok()) (void)blobs.DeleteUpload(id);  // what is left behind is GC's
    (void)meta.DeleteUpload(id);
    return SendStatus(c.resp,
                      started.ok() ? Internal("upload " + id + " vanished") : started.status(),
                      "BLOB_UPLOAD_UNKNOWN");
  }
  {
    std::lock_guard lock(uploads_mu);
    SessionSlot(id)->writer = std::move(*w);
  }
  SendUploadState(c, 202, id, 0);
}

void Registry::Impl::PatchUpload(Ctx& c, const std::string& id) {
  if (!Authorize(c, auth::kPush)) return;
  auto range = ParseContentRange(c.req.Header("Content-Range"));
  if (!range.ok()) return SendError(c.resp, 400, "BLOB_UPLOAD_INVALID", range.status().message());
  auto session = FindSession(c, id);
  if (!session) return;
  auto& w = session->s->writer;
  if (*range) {
    const auto& r = **range;
    if (r.first != w->size()) {
      SendError(c.resp, 416, "BLOB_UPLOAD_INVALID",
                "chunk starts at " + std::to_string(r.first) + " but the upload has " +
                    std::to_string(w->size()) + " bytes; send the chunk that starts there");
      c.resp.Set("Location", UploadLocation(c.repo, id));
      c.resp.Set("Range", "0-" + std::to_string(w->size() == 0 ? 0 : w->size() - 1));
      return;
    }
    if (c.req.content_length && *c.req.content_length != r.last - r.first + 1) {
      return SendError(c.resp, 400, "SIZE_INVALID",
                       "Content-Range covers " + std::to_string(r.last - r.first + 1) +
                           " bytes but Content-Length is " + std::to_string(*c.req.content_length));
    }
  }
  auto n = Pump(c.req, *w);
  bool short_chunk = n.ok() && *range && *n != (*range)->last - (*range)->first + 1;
  if (!n.ok() || short_chunk) {
    // Undo the partial chunk so the client can resend it from the same offset
    // (a failed rollback shows as a wrong offset in the next chunk's answer).
    (void)w->Rollback();
    return SendError(c.resp, 400, "BLOB_UPLOAD_INVALID",
                     n.ok() ? "chunk is shorter than its Content-Range" : n.status().message());
  }
  // Saved, so the next chunk may go to another server sharing the stores;
  // recorded only if no other request took a chunk meanwhile.
  std::string from = w->checkpoint();
  if (Status s = w->Checkpoint(); !s.ok()) {
    (void)w->Rollback();
    return SendStatus(c.resp, s, "BLOB_UPLOAD_UNKNOWN");
  }
  auto advanced = meta.AdvanceUpload(id, from, w->checkpoint());
  if (!advanced.ok() || !*advanced) {
    w.reset();  // the next request resumes from what is recorded
    if (!advanced.ok()) return SendStatus(c.resp, advanced.status(), "BLOB_UPLOAD_UNKNOWN");
    return SendError(c.resp, 400, "BLOB_UPLOAD_INVALID",
                     "another request wrote to upload " + id +
                         " at the same time; GET the upload for where it is");
  }
  SendUploadState(c, 202, id, w->size());
}

void Registry::Impl::PutUpload(Ctx& c, const std::string& id) {
  if (!Authorize(c, auth::kPush)) return;
  auto digest = c.req.Query("digest");
  if (!digest)
    return SendError(c.resp, 400, "DIGEST_INVALID",
                     "the final PUT needs ?digest=<algorithm>:<hex>");
  auto d = oci::Digest::Parse(*digest);
  if (!d.ok()) return SendError(c.resp, 400, "DIGEST_INVALID", d.status().message());
  auto range = ParseContentRange(c.req.Header("Content-Range"));
  if (!range.ok()) return SendError(c.resp, 400, "BLOB_UPLOAD_INVALID", range.status().message());
  auto session = FindSession(c, id);
  if (!session) return;
  auto& w = session->s->writer;
  if (*range && (*range)->first != w->size()) {
    SendError(c.resp, 416, "BLOB_UPLOAD_INVALID",
              "final chunk starts at " + std::to_string((*range)->first) + " but the upload has " +
                  std::to_string(w->size()) + " bytes");
    c.resp.Set("Location", UploadLocation(c.repo, id));
    c.resp.Set("Range", "0-" + std::to_string(w->size() == 0 ? 0 : w->size() - 1));
    return;
  }
  auto n = Pump(c.req, *w);
  if (!n.ok()) {
    (void)w->Rollback();  // as in PATCH
    return SendError(c.resp, 400, "BLOB_UPLOAD_INVALID", n.status().message());
  }
  auto info = Finish(c, *w, *d);
  if (!info.ok() && info.status().code() != Code::kInvalid) {
    (void)w->Rollback();  // as in PATCH
    return SendStatus(c.resp, info.status(), "BLOB_UPLOAD_UNKNOWN");
  }
  w.reset();
  (void)blobs.DeleteUpload(id);  // already renamed away on success
  DropSession(id);
  if (!info.ok()) return SendError(c.resp, 400, "DIGEST_INVALID", info.status().message());
  c.resp.status = 201;
  c.resp.Set("Location", "/v2/" + c.repo + "/blobs/" + d->str());
  c.resp.Set("Docker-Content-Digest", d->str());
}

void Registry::Impl::UploadStatus(Ctx& c, const std::string& id) {
  if (!Authorize(c, auth::kPush)) return;
  auto session = FindSession(c, id);
  if (!session) return;
  SendUploadState(c, 204, id, session->s->writer->size());
}

void Registry::Impl::CancelUpload(Ctx& c, const std::string& id) {
  if (!Authorize(c, auth::kPush)) return;
  auto session = FindSession(c, id);
  if (!session) return;
  session->s->writer.reset();
  (void)blobs.DeleteUpload(id);  // staging files left behind are GC's
  DropSession(id);
  c.resp.status = 204;
}

}  // namespace drydock::registry
