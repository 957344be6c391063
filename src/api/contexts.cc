// POST /api/v1/contexts: a build context streamed into the run service.
#include "api/impl.h"
#include "oci/digest.h"

namespace drydock::api {

void Api::Impl::UploadContext(Ctx& c) {
  if (!RequireAnyGrant(c)) return;
  const uint64_t limit = options.max_context_bytes;
  // Refused before reading a byte (and before "100 Continue") when the
  // client says up front that it is too large.
  if (c.req.content_length && *c.req.content_length > limit) {
    return SendError(c.resp, 413, "TOO_LARGE",
                     "build context of " + std::to_string(*c.req.content_length) +
                         " bytes exceeds the server's limit of " + std::to_string(limit));
  }
  // Size and digest are measured on the way through, for the reply.
  uint64_t size = 0;
  oci::Hasher hasher;
  auto read = [&](char* buf, size_t n) -> Result<size_t> {
    auto got = c.req.body->Read(buf, n);
    if (!got.ok()) return got;
    size += *got;
    if (size > limit) {
      return TooLarge("build context exceeds the server's limit of " + std::to_string(limit) +
                      " bytes");
    }
    hasher.Update(buf, *got);
    return got;
  };
  auto id = runs.StoreContext(read);
  if (!id.ok()) return SendStatus(c.resp, id.status());
  SendJson(c.resp, 201, {{"id", *id}, {"size", size}, {"digest", hasher.Peek().str()}});
}

}  // namespace drydock::api
