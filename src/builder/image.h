// Internal to build/: turning a stage's config and layers into an image
// (config blob + manifest), and sending it to a registry or an OCI layout.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "builder/store.h"
#include "remote/client.h"

namespace drydock::builder {

struct AssembledImage {
  std::string config;    // exact bytes
  std::string manifest;  // exact bytes
  std::string media_type;
  std::vector<LayerRef> layers;  // with the media types the manifest names
};

// `annotations` go on the manifest (none: no "annotations" field).
Result<AssembledImage> AssembleImage(const nlohmann::json& config,
                                     const std::vector<LayerRef>& layers, bool docker_media_types,
                                     const std::map<std::string, std::string>& annotations = {});

// Pushes layers (mounting from `base`'s repository when on the same registry), config, then
// manifest.
Status PushImage(remote::Client& client, LayerStore& store, const AssembledImage& image,
                 const oci::ImageReference& tag, const std::optional<oci::ImageReference>& base);

// "oci:DIR" writes (or adds to) an OCI image layout, one index entry per tag.
// "docker-archive:FILE" writes what `docker save` does (manifest.json,
// <config hex>.json, <diff ID hex>/layer.tar uncompressed), which docker
// load, podman load and skopeo's docker-archive: transport read.
Status WriteOutput(LayerStore& store, const AssembledImage& image, const std::string& output,
                   const std::vector<oci::ImageReference>& tags);

// "oci:DIR" of a multi-platform build: each image's blobs and `blobs`
// (what else the index refers to), then `index` named by each tag.
Status WriteIndexOutput(LayerStore& store, const std::vector<AssembledImage>& images,
                        const std::vector<std::string>& blobs, const std::string& index,
                        const std::string& media_type, const std::string& output,
                        const std::vector<oci::ImageReference>& tags);

// The name `docker save` gives a reference in RepoTags ("busybox:1",
// "localhost:5000/app:1"); "" for a reference without a tag.
std::string DockerRepoTag(const oci::ImageReference& ref);

}  // namespace drydock::builder
