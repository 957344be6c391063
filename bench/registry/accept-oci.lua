-- wrk script for the manifest GET benchmark: every request asks for an OCI
-- image manifest, as a real client does (registries answer 404 otherwise).
wrk.method = "GET"
wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"
