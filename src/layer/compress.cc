// gzip with ISA-L's igzip (level 1: several times zlib's speed at a similar
// ratio for layer data) and zstd through libzstd.
#include "layer/compress.h"

#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace drydock::layer {
namespace {

constexpr size_t kOut = 256 * 1024;

class PlainSink final : public CompressingSink {
 public:
  Status Write(const void* data, size_t n) override {
    raw_.Update(data, n);
    return Emit(data, n);
  }
  Status Finish() override { return Status::Ok(); }
};

class GzipSink final : public CompressingSink {
 public:
  GzipSink() : level_buf_(ISAL_DEF_LVL1_DEFAULT), out_(kOut) {
    isal_deflate_init(&z_);
    z_.level = 1;
    z_.level_buf = level_buf_.data();
    z_.level_buf_size = static_cast<uint32_t>(level_buf_.size());
    z_.gzip_flag = IGZIP_GZIP;
  }
  Status Write(const void* data, size_t n) override {
    raw_.Update(data, n);
    return Run(static_cast<const uint8_t*>(data), n, false);
  }
  Status Finish() override { return Run(nullptr, 0, true); }

 private:
  Status Run(const uint8_t* in, size_t n, bool end) {
    z_.next_in = const_cast<uint8_t*>(in);
    z_.avail_in = static_cast<uint32_t>(n);
    z_.end_of_stream = end ? 1 : 0;
    do {
      z_.next_out = out_.data();
      z_.avail_out = static_cast<uint32_t>(out_.size());
      if (isal_deflate(&z_) != COMP_OK) return Internal("igzip compression failed");
      DD_RETURN_IF_ERROR(Emit(out_.data(), out_.size() - z_.avail_out));
    } while (z_.avail_in > 0 || (end && z_.internal_state.state != ZSTATE_END));
    return Status::Ok();
  }
  isal_zstream z_{};
  std::vector<uint8_t> level_buf_;
  std::vector<uint8_t> out_;
};

class ZstdSink final : public CompressingSink {
 public:
  ZstdSink() : cctx_(ZSTD_createCCtx()), out_(kOut) {
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, 3);
  }
  ~ZstdSink() override { ZSTD_freeCCtx(cctx_); }
  Status Write(const void* data, size_t n) override {
    raw_.Update(data, n);
    return Run(data, n, ZSTD_e_continue);
  }
  Status Finish() override { return Run(nullptr, 0, ZSTD_e_end); }

 private:
  Status Run(const void* data, size_t n, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{data, n, 0};
    size_t remaining;
    do {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      remaining = ZSTD_compressStream2(cctx_, &out, &in, mode);
      if (ZSTD_isError(remaining))
        return Internal(std::string("zstd: ") + ZSTD_getErrorName(remaining));
      DD_RETURN_IF_ERROR(Emit(out_.data(), out.pos));
    } while (mode == ZSTD_e_end ? remaining != 0 : in.pos < in.size);
    return Status::Ok();
  }
  ZSTD_CCtx* cctx_;
  std::vector<char> out_;
};

}  // namespace

Status CompressingSink::Emit(const void* data, size_t n) {
  packed_.Update(data, n);
  size_ += n;
  auto p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_.get(), p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Internal(std::string("write layer: ") + std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

Result<std::unique_ptr<CompressingSink>> CompressingSink::Create(const std::filesystem::path& out,
                                                                 Compression c) {
  std::unique_ptr<CompressingSink> sink;
  switch (c) {
    case Compression::kGzip:
      sink = std::make_unique<GzipSink>();
      break;
    case Compression::kZstd:
      sink = std::make_unique<ZstdSink>();
      break;
    case Compression::kNone:
      sink = std::make_unique<PlainSink>();
      break;
  }
  sink->fd_ = UniqueFd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!sink->fd_.valid()) return Internal("create " + out.string() + ": " + std::strerror(errno));
  return sink;
}

std::string MediaTypeFor(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return "application/vnd.oci.image.layer.v1.tar+gzip";
    case Compression::kZstd:
      return "application/vnd.oci.image.layer.v1.tar+zstd";
    case Compression::kNone:
      break;
  }
  return "application/vnd.oci.image.layer.v1.tar";
}

}  // namespace drydock::layer
