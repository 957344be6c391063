// Opens the stores the configuration names. The only place that names
// concrete store implementations.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "cli/config.h"
#include "storage/blob_store.h"
#include "storage/metadata_store.h"

namespace drydock::cli {

struct Stores {
  std::unique_ptr<storage::BlobStore> blobs;
  std::unique_ptr<storage::MetadataStore> meta;
};

// Metadata in SQLite under `data_dir` or in PostgreSQL; blobs there too, or
// in S3. Opening a PostgreSQL store applies its pending migrations.
Result<Stores> OpenStores(const std::string& data_dir, const StorageConfig& where);

}  // namespace drydock::cli
