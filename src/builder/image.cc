#include "builder/image.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>

#include <fstream>
#include <map>
#include <memory>

#include "base/fd.h"
#include "base/random.h"
#include "oci/manifest.h"

namespace drydock::builder {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string LayerMediaType(const std::string& original, bool docker) {
  bool zstd = original.find("zstd") != std::string::npos;
  bool gzip = original.find("gzip") != std::string::npos;
  if (docker) {
    if (zstd) return "application/vnd.oci.image.layer.v1.tar+zstd";  // Docker has no zstd type
    return gzip ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
                : "application/vnd.docker.image.rootfs.diff.tar";
  }
  if (zstd) return "application/vnd.oci.image.layer.v1.tar+zstd";
  return gzip ? "application/vnd.oci.image.layer.v1.tar+gzip"
              : "application/vnd.oci.image.layer.v1.tar";
}

Status WriteFile(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << bytes;
  return f ? Status::Ok() : Internal("write " + p.string());
}

}  // namespace

Result<AssembledImage> AssembleImage(const json& config, const std::vector<LayerRef>& layers,
                                     bool docker,
                                     const std::map<std::string, std::string>& annotations) {
  AssembledImage image;
  json c = config;
  c["rootfs"] = {{"type", "layers"}, {"diff_ids", json::array()}};
  for (const auto& l : layers) c["rootfs"]["diff_ids"].push_back(l.diff_id.str());
  image.config = c.dump();
  json layer_list = json::array();
  for (auto l : layers) {
    l.media_type = LayerMediaType(l.media_type, docker);
    layer_list.push_back(
        {{"mediaType", l.media_type}, {"digest", l.digest.str()}, {"size", l.size}});
    image.layers.push_back(l);
  }
  image.media_type = docker ? "application/vnd.docker.distribution.manifest.v2+json"
                            : "application/vnd.oci.image.manifest.v1+json";
  json m = {{"schemaVersion", 2},
            {"mediaType", image.media_type},
            {"config",
             {{"mediaType", docker ? "application/vnd.docker.container.image.v1+json"
                                   : "application/vnd.oci.image.config.v1+json"},
              {"digest", oci::Digest::Of(image.config).str()},
              {"size", image.config.size()}}},
            {"layers", layer_list}};
  if (!annotations.empty()) m["annotations"] = annotations;
  image.manifest = m.dump();
  return image;
}

Status PushImage(remote::Client& client, LayerStore& store, const AssembledImage& image,
                 const oci::ImageReference& tag, const std::optional<oci::ImageReference>& base) {
  std::string mount_from = base && base->registry == tag.registry ? base->repository : "";
  for (const auto& l : image.layers) {
    DD_RETURN_IF_ERROR(client.PushBlob(tag, l.digest, store.BlobPath(l.digest), mount_from));
  }
  DD_RETURN_IF_ERROR(client.PushBlobBytes(tag, oci::Digest::Of(image.config), image.config));
  auto pushed = client.PushManifest(tag, image.manifest, image.media_type);
  return pushed.ok() ? Status::Ok() : pushed.status();
}

namespace {

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

// libarchive can fail without an error message (it does on some truncated
// gzip streams), and std::string + nullptr is undefined behaviour: a crash
// found by fuzz/layer_unpack.
const char* ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown archive error";
}

// Decompresses a layer blob (gzip, zstd or plain) into `out`, checking that
// the result is the diff ID the config names.
Status Decompress(const fs::path& blob, const fs::path& out, const oci::Digest& diff_id) {
  std::unique_ptr<archive, ReadDeleter> in(archive_read_new());
  archive_read_support_filter_all(in.get());
  archive_read_support_format_raw(in.get());
  archive_entry* e;
  if (archive_read_open_filename(in.get(), blob.c_str(), 256 * 1024) != ARCHIVE_OK ||
      archive_read_next_header(in.get(), &e) != ARCHIVE_OK) {
    return Invalid("open layer " + blob.string() + ": " + ArchiveError(in.get()));
  }
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  oci::Hasher hasher;
  std::vector<char> buf(256 * 1024);
  for (;;) {
    la_ssize_t n = archive_read_data(in.get(), buf.data(), buf.size());
    if (n < 0) return Invalid("read layer " + blob.string() + ": " + ArchiveError(in.get()));
    if (n == 0) break;
    hasher.Update(buf.data(), static_cast<size_t>(n));
    f.write(buf.data(), n);
  }
  if (!f.flush()) return Internal("write " + out.string());
  if (hasher.Peek() != diff_id) {
    return Invalid("layer " + blob.string() + " unpacks to " + hasher.Peek().str() +
                   ", not its diff ID " + diff_id.str());
  }
  return Status::Ok();
}

// Writes `docker save`'s tar entries; every entry is owned by root and dated
// 1970, so the same image always gives the same archive.
class TarOut {
 public:
  Status Open(const fs::path& file) {
    a_.reset(archive_write_new());
    archive_write_set_format_pax_restricted(a_.get());
    if (archive_write_open_filename(a_.get(), file.c_str()) != ARCHIVE_OK)
      return Internal("create " + file.string() + ": " + ArchiveError(a_.get()));
    return Status::Ok();
  }
  Status Dir(const std::string& name) { return Header(name, AE_IFDIR, 0755, 0); }
  Status Bytes(const std::string& name, const std::string& bytes) {
    DD_RETURN_IF_ERROR(Header(name, AE_IFREG, 0644, bytes.size()));
    return Data(bytes.data(), bytes.size());
  }
  Status File(const std::string& name, const fs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::error_code ec;
    uint64_t size = fs::file_size(path, ec);
    if (!fd.valid() || ec) return Internal("read " + path.string());
    DD_RETURN_IF_ERROR(Header(name, AE_IFREG, 0644, size));
    std::vector<char> buf(256 * 1024);
    for (uint64_t done = 0; done < size;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Internal("read " + path.string() + ": file shrank");
      DD_RETURN_IF_ERROR(Data(buf.data(), static_cast<size_t>(n)));
      done += static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }
  Status Close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK)
      return Internal(std::string("finish archive: ") + ArchiveError(a_.get()));
    return Status::Ok();
  }

 private:
  Status Header(const std::string& name, unsigned type, int perm, uint64_t size) {
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), static_cast<mode_t>(perm));
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e.get(), 0, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK)
      return Internal("archive entry " + name + ": " + ArchiveError(a_.get()));
    return Status::Ok();
  }
  Status Data(const void* data, size_t n) {
    if (archive_write_data(a_.get(), data, n) != static_cast<la_ssize_t>(n))
      return Internal(std::string("write archive: ") + ArchiveError(a_.get()));
    return Status::Ok();
  }
  std::unique_ptr<archive, WriteDeleter> a_;
};

// Layers are stored uncompressed, named by diff ID, as `docker save` does:
// every loader takes that, while compressed layer.tar files are a later
// extension not all of them read.
Status WriteDockerArchive(LayerStore& store, const AssembledImage& image, const fs::path& file,
                          const std::vector<oci::ImageReference>& tags) {
  std::error_code ec;
  if (file.has_parent_path()) fs::create_directories(file.parent_path(), ec);
  fs::path partial = file.string() + ".partial-" + RandomHex(4);
  TempDir scratch(store.scratch(), "archive");
  TarOut tar;
  Status s = [&]() -> Status {
    DD_RETURN_IF_ERROR(tar.Open(partial));
    std::string config_name = oci::Digest::Of(image.config).hex() + ".json";
    DD_RETURN_IF_ERROR(tar.Bytes(config_name, image.config));
    json layer_names = json::array();
    std::map<oci::Digest, bool> written;  // an image may repeat a layer
    for (const auto& l : image.layers) {
      std::string dir = l.diff_id.hex();
      layer_names.push_back(dir + "/layer.tar");
      if (written[l.diff_id]) continue;
      written[l.diff_id] = true;
      fs::path raw = scratch.path() / dir;
      DD_RETURN_IF_ERROR(Decompress(store.BlobPath(l.digest), raw, l.diff_id));
      DD_RETURN_IF_ERROR(tar.Dir(dir + "/"));
      DD_RETURN_IF_ERROR(tar.File(dir + "/layer.tar", raw));
      fs::remove(raw, ec);
    }
    json repo_tags = json::array();
    for (const auto& t : tags) {
      if (std::string name = DockerRepoTag(t); !name.empty()) repo_tags.push_back(name);
    }
    json manifest =
        json::array({{{"Config", config_name}, {"RepoTags", repo_tags}, {"Layers", layer_names}}});
    DD_RETURN_IF_ERROR(tar.Bytes("manifest.json", manifest.dump()));
    return tar.Close();
  }();
  if (s.ok()) fs::rename(partial, file, ec);
  if (!s.ok() || ec) {
    fs::remove(partial, ec);
    return s.ok() ? Internal("write " + file.string() + ": " + ec.message()) : s;
  }
  return Status::Ok();
}

}  // namespace

std::string DockerRepoTag(const oci::ImageReference& ref) {
  if (ref.tag.empty()) return "";
  std::string name = ref.repository;
  if (ref.registry != "docker.io") {
    name = ref.registry + "/" + name;
  } else if (name.rfind("library/", 0) == 0) {
    name = name.substr(8);
  }
  return name + ":" + ref.tag;
}

namespace {

// An image's layers, config and manifest into an OCI layout's blobs.
Status WriteImageBlobs(LayerStore& store, const AssembledImage& image, const fs::path& dir) {
  fs::path blobs = dir / "blobs" / "sha256";
  std::error_code ec;
  fs::create_directories(blobs, ec);
  if (ec) return Internal("create " + blobs.string() + ": " + ec.message());
  for (const auto& l : image.layers) {
    if (!fs::exists(blobs / l.digest.hex()))
      fs::copy_file(store.BlobPath(l.digest), blobs / l.digest.hex(), ec);
    if (ec) return Internal("copy layer into " + dir.string() + ": " + ec.message());
  }
  DD_RETURN_IF_ERROR(WriteFile(blobs / oci::Digest::Of(image.config).hex(), image.config));
  return WriteFile(blobs / oci::Digest::Of(image.manifest).hex(), image.manifest);
}

// index.json names `manifest` (an image's, or an index) once per tag; a
// tag already there names it from now on.
Status AddToLayoutIndex(const fs::path& dir, const std::string& media_type,
                        const std::string& manifest, const std::vector<oci::ImageReference>& tags) {
  const oci::Digest manifest_digest = oci::Digest::Of(manifest);
  DD_RETURN_IF_ERROR(WriteFile(dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  json index = {{"schemaVersion", 2},
                {"mediaType", "application/vnd.oci.image.index.v1+json"},
                {"manifests", json::array()}};
  if (std::ifstream f(dir / "index.json"); f) {
    json old = json::parse(f, nullptr, false);
    if (old.is_object() && old.contains("manifests")) index["manifests"] = old["manifests"];
  }
  std::vector<std::string> names;
  for (const auto& t : tags) names.push_back(t.tag);
  if (names.empty()) names.push_back("");
  for (const auto& name : names) {
    json desc = {
        {"mediaType", media_type}, {"digest", manifest_digest.str()}, {"size", manifest.size()}};
    if (!name.empty()) desc["annotations"] = {{"org.opencontainers.image.ref.name", name}};
    auto& list = index["manifests"];
    for (auto it = list.begin(); it != list.end();) {  // a tag names one image
      bool same =
          !name.empty() &&
          it->value("annotations", json::object()).value("org.opencontainers.image.ref.name", "") ==
              name;
      it = same ? list.erase(it) : it + 1;
    }
    list.push_back(desc);
  }
  return WriteFile(dir / "index.json", index.dump());
}

}  // namespace

Status WriteOutput(LayerStore& store, const AssembledImage& image, const std::string& output,
                   const std::vector<oci::ImageReference>& tags) {
  if (output.rfind("docker-archive:", 0) == 0) {
    std::string file = output.substr(15);
    if (file.empty()) return Invalid("--output docker-archive: needs a file name");
    return WriteDockerArchive(store, image, file, tags);
  }
  if (output.rfind("oci:", 0) != 0)
    return Invalid("--output must be oci:DIR or docker-archive:FILE (got '" + output + "')");
  fs::path dir = output.substr(4);
  DD_RETURN_IF_ERROR(WriteImageBlobs(store, image, dir));
  return AddToLayoutIndex(dir, image.media_type, image.manifest, tags);
}

Status WriteIndexOutput(LayerStore& store, const std::vector<AssembledImage>& images,
                        const std::vector<std::string>& blobs, const std::string& index,
                        const std::string& media_type, const std::string& output,
                        const std::vector<oci::ImageReference>& tags) {
  if (output.rfind("oci:", 0) != 0)
    return Invalid("--output of several platforms must be oci:DIR (got '" + output + "')");
  fs::path dir = output.substr(4);
  for (const auto& image : images) DD_RETURN_IF_ERROR(WriteImageBlobs(store, image, dir));
  for (const auto& blob : blobs)
    DD_RETURN_IF_ERROR(WriteFile(dir / "blobs" / "sha256" / oci::Digest::Of(blob).hex(), blob));
  DD_RETURN_IF_ERROR(WriteFile(dir / "blobs" / "sha256" / oci::Digest::Of(index).hex(), index));
  return AddToLayoutIndex(dir, media_type, index, tags);
}

}  // namespace drydock::builder
