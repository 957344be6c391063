// Internal to attest/ (and its fuzz target): rpm's package database in its
// SQLite form. Each row of its Packages table is an rpm header, parsed and
// checked by librpm (Debian's librpm); the database file is the image
// author's, so anything malformed is skipped, never fatal.
#pragma once

#include <string_view>
#include <vector>

#include "attest/attest.h"

namespace drydock::attest::internal {

// The package one header blob describes; false when librpm refuses it or
// it names no package (gpg-pubkey entries are imported keys, not packages).
bool ReadRpmHeader(std::string_view blob, Package& out);

// Every package of an rpmdb.sqlite file's bytes, appended to `out`.
void ReadRpmSqlite(std::string_view db, std::vector<Package>& out);

}  // namespace drydock::attest::internal
