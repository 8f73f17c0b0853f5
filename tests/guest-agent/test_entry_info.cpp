// SPDX-License-Identifier: Apache-2.0
// EntryInfo field formatting: Go FileMode strings, protobuf timestamps, metadata keys.
#include <catch.hpp>

#include <sys/stat.h>

#include "guest-agent/entry_info.hpp"
#include "guest-agent/fs_ops.hpp"
#include "guest-agent/xattr_metadata.hpp"

using namespace nexus::agent;

TEST_CASE("entry_info: Go FileMode strings", "[entry_info]") {
  CHECK(go_file_mode_string(S_IFREG | 0644) == "-rw-r--r--");
  CHECK(go_file_mode_string(S_IFREG | 0) == "----------");
  CHECK(go_file_mode_string(S_IFDIR | 0755) == "drwxr-xr-x");
  CHECK(go_file_mode_string(S_IFLNK | 0777) == "Lrwxrwxrwx");
  CHECK(go_file_mode_string(S_IFDIR | S_ISVTX | 0777) == "dtrwxrwxrwx");
  CHECK(go_file_mode_string(S_IFCHR | 0666) == "Dcrw-rw-rw-");
  CHECK(go_file_mode_string(S_IFBLK | 0660) == "Drw-rw----");
  CHECK(go_file_mode_string(S_IFIFO | 0600) == "prw-------");
  CHECK(go_file_mode_string(S_IFSOCK | 0755) == "Srwxr-xr-x");
  CHECK(go_file_mode_string(S_IFREG | S_ISUID | 0755) == "urwxr-xr-x");
  CHECK(go_file_mode_string(S_IFREG | S_ISUID | S_ISGID | 0755) == "ugrwxr-xr-x");
  CHECK(go_file_mode_string(S_IFDIR | S_ISGID | 02775) == "dgrwxrwxr-x");
}

TEST_CASE("entry_info: file types", "[entry_info]") {
  CHECK(std::string(file_type_name(S_IFREG)) == "FILE_TYPE_FILE");
  CHECK(std::string(file_type_name(S_IFDIR)) == "FILE_TYPE_DIRECTORY");
  CHECK(std::string(file_type_name(S_IFLNK)) == "FILE_TYPE_SYMLINK");
  CHECK(std::string(file_type_name(S_IFIFO)) == "FILE_TYPE_UNSPECIFIED");
}

TEST_CASE("entry_info: protobuf JSON timestamps", "[entry_info]") {
  CHECK(format_timestamp({0, 0}) == "1970-01-01T00:00:00Z");
  CHECK(format_timestamp({1700000000, 0}) == "2023-11-14T22:13:20Z");
  CHECK(format_timestamp({1700000000, 500000000}) == "2023-11-14T22:13:20.500Z");
  CHECK(format_timestamp({1700000000, 123456000}) == "2023-11-14T22:13:20.123456Z");
  CHECK(format_timestamp({1700000000, 123456789}) == "2023-11-14T22:13:20.123456789Z");
  CHECK(format_timestamp({1700000000, 1}) == "2023-11-14T22:13:20.000000001Z");
}

TEST_CASE("entry_info: metadata keys and path joins", "[entry_info]") {
  CHECK(valid_metadata_key("owner"));
  CHECK(valid_metadata_key("a.b-c_d~!#$%&'*+^`|"));
  CHECK_FALSE(valid_metadata_key(""));
  CHECK_FALSE(valid_metadata_key("a b"));
  CHECK_FALSE(valid_metadata_key("a/b"));
  CHECK_FALSE(valid_metadata_key(std::string(201, 'k')));
  CHECK(join_path("/", "a") == "/a");
  CHECK(join_path("/d", "a") == "/d/a");
}
