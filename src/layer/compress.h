// A byte sink that hashes what it is given (the diff ID), compresses it,
// hashes the compressed stream (the blob digest) and writes it to a file.
#pragma once

#include <cstdio>
#include <filesystem>
#include <memory>

#include "base/fd.h"
#include "base/result.h"
#include "layer/layer.h"
#include "oci/digest.h"

namespace drydock::layer {

class CompressingSink {
 public:
  static Result<std::unique_ptr<CompressingSink>> Create(const std::filesystem::path& out,
                                                         Compression c);
  virtual ~CompressingSink() = default;
  virtual Status Write(const void* data, size_t n) = 0;
  // Flushes the compressor; the file then holds the whole blob.
  virtual Status Finish() = 0;
  oci::Digest diff_id() const { return raw_.Peek(); }
  oci::Digest digest() const { return packed_.Peek(); }
  uint64_t size() const { return size_; }

 protected:
  Status Emit(const void* data, size_t n);  // compressed bytes → hash + file
  UniqueFd fd_;
  oci::Hasher raw_, packed_;
  uint64_t size_ = 0;
};

}  // namespace drydock::layer
