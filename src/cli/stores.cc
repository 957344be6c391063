#include "cli/stores.h"

#include <filesystem>

namespace drydock::cli {

Result<Stores> OpenStores(const std::string& data_dir, const StorageConfig& where) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Internal("create data directory " + data_dir + ": " + ec.message());
  auto blobs =
      where.s3 ? storage::OpenS3BlobStore(*where.s3) : storage::OpenFilesystemBlobStore(data_dir);
  if (!blobs.ok()) return blobs.status();
  auto meta = where.metadata.empty() ? storage::OpenSqliteMetadataStore(data_dir + "/drydock.db")
                                     : storage::OpenPostgresMetadataStore(where.metadata);
  if (!meta.ok()) return meta.status();
  return Stores{std::move(*blobs), std::move(*meta)};
}

}  // namespace drydock::cli
