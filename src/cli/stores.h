// Opens the embedded default stores under a data directory. The only
// place that names concrete store implementations.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "storage/blob_store.h"
#include "storage/metadata_store.h"

namespace drydock::cli {

struct Stores {
  std::unique_ptr<storage::BlobStore> blobs;
  std::unique_ptr<storage::MetadataStore> meta;
};

Result<Stores> OpenStores(const std::string& data_dir);

}  // namespace drydock::cli
