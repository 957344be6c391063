// Runs as the metadata store keeps them: a RunRow with the request and the
// result as JSON that only tasks/ reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/reference.h"
#include "storage/metadata_store.h"
#include "tasks/tasks.h"

namespace drydock::tasks::internal {

int64_t NowMs();

storage::RunRow ToRow(const Run& run);
Result<Run> FromRow(const storage::RunRow& row);
// What can be kept of a row FromRow cannot read, marked Error with `why`,
// so that it can be finalized instead of blocking the queue.
Run Unreadable(const storage::RunRow& row, const Status& why);

// The request without what must never leave the server: the git token and
// the values of secret build args (their names stay).
RunRequest Scrubbed(RunRequest request);

// The last line of a final run's log: "Run ID: ca1 was successful after
// 4s", "… failed after 3s. Error: …", "… was canceled", "… timed out after …".
std::string FinalLogLine(const Run& run);

// What the run's log must never show: the git token and secret build args.
std::vector<std::string> SecretsOf(const RunRequest& request);

// The text RunRow::output_images holds: one line per name an image can be
// searched by ("registry/repo:tag", "repo:tag", and "…@digest" once pushed),
// each between newlines so that a filter matches whole names only.
std::string OutputImagesText(const std::vector<oci::ImageReference>& requested,
                             const std::vector<ImageDescriptor>& pushed);
// What RunFilter::image becomes for storage::RunQuery::image.
std::string ImageFilterText(const std::string& image);

// "{{.Run.ID}}" replaced by `run_id` in each image name.
std::vector<std::string> ExpandImages(const std::vector<std::string>& images,
                                      const std::string& run_id);

}  // namespace drydock::tasks::internal
