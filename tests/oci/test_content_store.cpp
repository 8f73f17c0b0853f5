// SPDX-License-Identifier: Apache-2.0
// The content store: atomic verified ingest, resumable writers, gc.
#include <catch.hpp>

#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include "../rootfs/test_util.hpp"
#include "rootfs/oci/content_store.hpp"

using namespace nexus;
using namespace nexus::oci;
using nexus::rootfs::test::exists;
using nexus::rootfs::test::slurp;
using nexus::rootfs::test::spit;
using nexus::rootfs::test::TempDir;

namespace {

ContentStore store_in(const TempDir& t) {
  auto s = ContentStore::at(t.path());
  REQUIRE(s);
  return std::move(*s);
}

void make_old(const std::string& path) {
  struct utimbuf old {
    1000, 1000
  };
  REQUIRE(::utime(path.c_str(), &old) == 0);
}

}  // namespace

TEST_CASE("put, has, open, read, size", "[store]") {
  TempDir t;
  auto s = store_in(t);
  CHECK(exists(t / "blobs/sha256"));
  auto d = s.put("hello");
  REQUIRE(d);
  CHECK(*d == sha256_of("hello"));
  CHECK(s.has(*d));
  CHECK(s.path(*d) == t / ("blobs/sha256/" + d->hex()));
  CHECK(slurp(s.path(*d)) == "hello");
  CHECK(s.size(*d).value() == 5);
  CHECK(s.read(*d, 100).value() == "hello");
  CHECK(s.read(*d, 3).error().is(Errc::too_large));
  auto fd = s.open(*d);
  REQUIRE(fd);
  CHECK(fd->valid());
  CHECK(s.put("hello").value() == *d);  // idempotent

  Digest absent = sha256_of("absent");
  CHECK_FALSE(s.has(absent));
  CHECK(s.open(absent).error().is(Errc::not_found));
  CHECK(s.size(absent).error().is(Errc::not_found));

  spit(s.path(*d), "hellO");  // corrupted on disk
  CHECK(s.read(*d, 100).error().is(Errc::protocol));
}

TEST_CASE("a writer verifies digest and size before the blob appears", "[store]") {
  TempDir t;
  auto s = store_in(t);
  Digest want = sha256_of("0123456789");
  {
    auto w = s.writer(want, 10);
    REQUIRE(w);
    REQUIRE(w->write("01234"));
    REQUIRE(w->write("XXXXX"));
    auto c = w->commit();
    REQUIRE_FALSE(c);
    CHECK(c.error().is(Errc::protocol));
    CHECK(c.error().message().find("digest mismatch") != std::string::npos);
  }
  CHECK_FALSE(s.has(want));
  CHECK_FALSE(exists(t / ("blobs/ingest/" + want.hex() + ".partial")));  // a bad partial is not kept
  {
    auto w = s.writer(want, 10);
    REQUIRE(w);
    CHECK(w->write("0123456789abc").error().is(Errc::too_large));
  }
  {
    auto w = s.writer(want, 10);
    REQUIRE(w);
    REQUIRE(w->write("01234"));
    CHECK(w->commit().error().message().find("5 bytes") != std::string::npos);
  }
}

TEST_CASE("an interrupted writer resumes from its partial file", "[store]") {
  TempDir t;
  auto s = store_in(t);
  const std::string content(200000, 'z');
  Digest want = sha256_of(content);
  {
    auto w = s.writer(want, content.size());
    REQUIRE(w);
    CHECK(w->offset() == 0);
    REQUIRE(w->write(std::string_view(content).substr(0, 70000)));
    // Another writer for the same blob is refused while this one holds it.
    auto other = s.writer(want, content.size());
    REQUIRE_FALSE(other);
    CHECK(other.error().is(Errc::conflict));
  }  // dropped: the partial stays
  CHECK(exists(t / ("blobs/ingest/" + want.hex() + ".partial")));
  auto w = s.writer(want, content.size());
  REQUIRE(w);
  CHECK(w->offset() == 70000);
  REQUIRE(w->write(std::string_view(content).substr(70000)));
  REQUIRE(w->commit().value() == want);
  CHECK(s.has(want));
  CHECK(s.size(want).value() == content.size());
  CHECK_FALSE(exists(t / ("blobs/ingest/" + want.hex() + ".partial")));
  CHECK((rootfs::test::lstat_of(s.path(want)).st_mode & 0777) == 0644);

  // restart() throws away what was there (a server that ignored Range).
  Digest other = sha256_of("abc");
  {
    auto w2 = s.writer(other, 3);
    REQUIRE(w2->write("xy"));
  }
  auto w3 = s.writer(other, 3);
  CHECK(w3->offset() == 2);
  REQUIRE(w3->restart());
  CHECK(w3->offset() == 0);
  REQUIRE(w3->write("abc"));
  CHECK(w3->commit().value() == other);
}

TEST_CASE("an unknown-digest writer learns its digest; dropped, it leaves nothing", "[store]") {
  TempDir t;
  auto s = store_in(t);
  {
    auto w = s.writer();
    REQUIRE(w->write("some "));
    REQUIRE(w->write("bytes"));
    CHECK(w->commit().value() == sha256_of("some bytes"));
  }
  {
    auto w = s.writer();
    REQUIRE(w->write("abandoned"));
  }
  auto names = s.list();
  REQUIRE(names);
  CHECK(names->size() == 1);
  CHECK(::rmdir((t / "blobs/ingest").c_str()) == 0);  // empty: the temporary went away
}

TEST_CASE("gc keeps the referenced set and removes the rest", "[store][gc]") {
  TempDir t;
  auto s = store_in(t);
  Digest a = s.put("a").value(), b = s.put("b").value(), c = s.put("c").value();
  spit(t / "blobs/sha256/junk", "x");
  // A stale partial, a fresh one, and one a writer is holding.
  Digest p1 = sha256_of("partial-1"), p2 = sha256_of("partial-2"), p3 = sha256_of("partial-3");
  for (auto& p : {p1, p2}) {
    auto w = s.writer(p, 100);
    REQUIRE(w->write("x"));
  }
  make_old(t / ("blobs/ingest/" + p1.hex() + ".partial"));
  auto held = s.writer(p3, 100);
  REQUIRE(held->write("x"));
  make_old(t / ("blobs/ingest/" + p3.hex() + ".partial"));

  auto stats = s.gc({a, c});
  REQUIRE(stats);
  CHECK(stats->blobs_removed == 2);  // b and the junk file
  CHECK(stats->bytes_removed == 2);
  CHECK(stats->temporaries_removed == 1);
  CHECK(s.has(a));
  CHECK_FALSE(s.has(b));
  CHECK(s.has(c));
  CHECK_FALSE(exists(t / "blobs/sha256/junk"));
  CHECK_FALSE(exists(t / ("blobs/ingest/" + p1.hex() + ".partial")));
  CHECK(exists(t / ("blobs/ingest/" + p2.hex() + ".partial")));
  CHECK(exists(t / ("blobs/ingest/" + p3.hex() + ".partial")));

  auto all = s.gc({}, std::chrono::seconds(0));
  REQUIRE(all);
  CHECK(all->blobs_removed == 2);
  CHECK(all->temporaries_removed == 1);  // p2; p3 is still held
}
