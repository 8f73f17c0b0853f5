// SPDX-License-Identifier: Apache-2.0
// Tests for HTTP streaming: chunked responses, back-pressure, pause/resume, aborts, shutdown.
#include <unistd.h>

#include <catch.hpp>

#include "common/http.hpp"
#include "tests/common/test_http_support.hpp"

using namespace nexus;
using namespace nexus::http;
using namespace nexus::http_test;

namespace {


/// Collects a streamed client response.
struct Collected {
  std::optional<ResponseHead> head;
  std::vector<std::string> pieces;
  std::optional<Result<void>> end;
  int ends = 0;
  std::string body() const {
    std::string s;
    for (const auto& p : pieces) s += p;
    return s;
  }
  ResponseCallbacks callbacks() {
    return ResponseCallbacks{
        [this](const ResponseHead& h) { head = h; },
        [this](std::string_view d) { pieces.emplace_back(d); },
        [this](Result<void> r) {
          ++ends;
          end = std::move(r);
        }};
  }
};

}  // namespace

TEST_CASE("chunked streamed response arrives in order", "[http]") {
  Fixture f;
  uv::Timer timer(f.loop);
  std::vector<std::string> parts = {"one ", "two ", "three"};
  size_t next = 0;
  f.start([&](std::shared_ptr<Exchange> ex) {
    Headers h;
    h.add("Content-Type", "text/event-stream");
    ex->start(200, std::move(h));
    timer.start(5, 5, [&, ex] {
      if (next < parts.size()) {
        CHECK(ex->write(parts[next++]));
      } else {
        timer.stop();
        ex->finish();
        CHECK_FALSE(ex->write("late"));
      }
    });
  });
  Collected c;
  auto call = request(f.loop, Endpoint::unix_socket(f.path), {}, c.callbacks());
  REQUIRE(run_until(f.loop, [&] { return c.end.has_value(); }));
  REQUIRE(*c.end);
  REQUIRE(c.head);
  CHECK(c.head->status == 200);
  CHECK(c.head->headers.get("Transfer-Encoding") == "chunked");
  CHECK(c.head->headers.get("Content-Type") == "text/event-stream");
  CHECK(c.body() == "one two three");
  CHECK(c.pieces.size() >= 3);  // written apart in time, so not coalesced
  CHECK(c.pieces.front() == "one ");
  f.loop.run_nowait();
  CHECK(c.ends == 1);
}

TEST_CASE("a large streamed response with back-pressure arrives intact", "[http]") {
  Fixture f;
  const std::string data = pattern(3 * 1024 * 1024 + 12345);
  constexpr size_t kBlock = 64 * 1024, kHigh = 256 * 1024;
  size_t max_pending = 0;
  int drains = 0;
  bool with_length = false;
  f.start([&](std::shared_ptr<Exchange> ex) {
    Headers h;
    if (with_length) h.add("Content-Length", std::to_string(data.size()));
    ex->start(200, std::move(h));
    auto sent = std::make_shared<size_t>(0);
    auto pump = std::make_shared<std::function<void()>>();
    *pump = [&, ex, sent, weak = std::weak_ptr<std::function<void()>>(pump)] {
      while (*sent < data.size() && ex->pending_bytes() < kHigh) {
        size_t n = std::min(kBlock, data.size() - *sent);
        if (!ex->write(std::string_view(data).substr(*sent, n))) return;
        *sent += n;
        max_pending = std::max(max_pending, ex->pending_bytes());
      }
      if (*sent == data.size()) {
        ex->finish();
        ex->on_drain(nullptr);
      }
    };
    ex->on_drain([&drains, weak = std::weak_ptr<std::function<void()>>(pump)] {
      ++drains;
      if (auto p = weak.lock()) (*p)();
    });
    (*pump)();
    // keep the pump alive until the response is done
    ex->on_abort([pump] {});
  });

  SECTION("chunked, client pauses now and then") {
    Collected c;
    std::shared_ptr<ClientCall> call;
    uv::Timer resume_timer(f.loop);
    size_t received = 0;
    bool paused = false;
    int pauses = 0;
    ResponseCallbacks cbs = c.callbacks();
    cbs.on_data = [&](std::string_view d) {
      CHECK_FALSE(paused);
      c.pieces.emplace_back(d);
      received += d.size();
      if (received > static_cast<size_t>(pauses + 1) * 1024 * 1024) {
        ++pauses;
        paused = true;
        call->pause();
        resume_timer.start(20, 0, [&] {
          paused = false;
          call->resume();
        });
      }
    };
    call = request(f.loop, Endpoint::unix_socket(f.path), {}, std::move(cbs));
    REQUIRE(run_until(f.loop, [&] { return c.end.has_value(); }, 30s));
    REQUIRE(*c.end);
    CHECK(pauses >= 2);
    CHECK(c.head->headers.get("Transfer-Encoding") == "chunked");
    CHECK(c.body().size() == data.size());
    CHECK(c.body() == data);
  }
  SECTION("raw bytes with Content-Length") {
    with_length = true;
    std::optional<Result<Response>> out;
    fetch(f.loop, Endpoint::unix_socket(f.path), {}, [&](Result<Response> r) {
      out = std::move(r);
    });
    REQUIRE(run_until(f.loop, [&] { return out.has_value(); }, 30s));
    REQUIRE(*out);
    CHECK_FALSE((*out)->headers.has("Transfer-Encoding"));
    CHECK((*out)->body == data);
  }
  CHECK(drains > 0);
  CHECK(max_pending <= kHigh + kBlock);
}

TEST_CASE("request body streaming with pause and resume", "[http]") {
  Fixture f;
  uv::Timer timer(f.loop);
  std::string received;
  bool paused = false;
  int data_calls = 0;
  std::optional<Result<void>> body_end;
  f.start([&](std::shared_ptr<Exchange> ex) {
    ex->stream_body(
        [&, ex](std::string_view d) {
          CHECK_FALSE(paused);
          ++data_calls;
          received.append(d);
          if (data_calls == 1) {
            paused = true;
            ex->pause_body();
            timer.start(50, 0, [&, ex] {
              paused = false;
              ex->resume_body();
            });
          }
        },
        [&, ex](Result<void> r) {
          CHECK_FALSE(paused);
          body_end = r;
          ex->respond(200, {}, "size=" + std::to_string(received.size()));
        });
  });
  ClientRequest req;
  req.method = "PUT";
  req.chunked_body = true;
  Collected c;
  auto call = request(f.loop, Endpoint::unix_socket(f.path), req, c.callbacks());
  call->write("first,");  // queued until the connection is up
  REQUIRE(run_until(f.loop, [&] { return paused; }));
  call->write("second,");
  call->write(std::string(100000, 'x'));
  call->finish();
  call->write("ignored after finish");
  REQUIRE(run_until(f.loop, [&] { return c.end.has_value(); }));
  REQUIRE(*c.end);
  REQUIRE(body_end);
  CHECK(*body_end);
  CHECK(received == "first,second," + std::string(100000, 'x'));
  CHECK(data_calls >= 2);
  CHECK(c.body() == "size=" + std::to_string(received.size()));
}

TEST_CASE("on_abort fires when the client goes away mid-stream", "[http]") {
  Fixture f;
  std::shared_ptr<Exchange> held;
  int aborts = 0;
  f.start([&](std::shared_ptr<Exchange> ex) {
    held = ex;
    ex->start(200, {});
    ex->write("first-chunk");
    ex->on_abort([&] { ++aborts; });
  });
  auto client = std::async(std::launch::async, [t = Target{f.path, 0}] {
    int fd = raw_connect(t);
    raw_send(fd, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string got = raw_read_until(fd, "first-chunk");
    close(fd);
    return got;
  });
  CHECK(await(f.loop, client).find("first-chunk") != std::string::npos);
  REQUIRE(run_until(f.loop, [&] { return aborts > 0; }));
  CHECK(held->aborted());
  CHECK_FALSE(held->write("more"));
  held->finish();
  int late = 0;
  held->on_abort([&] { ++late; });  // registering after the fact fires at once
  CHECK(late == 1);
  CHECK(aborts == 1);
  held.reset();
  CHECK(run_until(f.loop, [&] { return f.server->connection_count() == 0; }));
}

TEST_CASE("client cancel ends the call once", "[http]") {
  Fixture f;
  std::shared_ptr<Exchange> held;
  f.start([&](std::shared_ptr<Exchange> ex) { held = ex; });
  Collected c;
  auto call = request(f.loop, Endpoint::unix_socket(f.path), {}, c.callbacks());
  REQUIRE(run_until(f.loop, [&] { return held != nullptr; }));
  call->cancel();
  call->cancel();
  REQUIRE(c.end);
  REQUIRE_FALSE(*c.end);
  CHECK(c.end->error().is(Errc::unavailable));
  CHECK(c.end->error().message() == "cancelled");
  REQUIRE(run_until(f.loop, [&] { return held->aborted(); }));
  CHECK(c.ends == 1);
  held.reset();
}

TEST_CASE("server close and destruction with exchanges in flight", "[http]") {
  Fixture f;
  std::vector<std::shared_ptr<Exchange>> held;
  f.start([&](std::shared_ptr<Exchange> ex) { held.push_back(ex); });
  Collected a;
  auto call = request(f.loop, Endpoint::unix_socket(f.path), {}, a.callbacks());
  REQUIRE(run_until(f.loop, [&] { return held.size() == 1; }));

  SECTION("close() lets the exchange finish, then refuses new connections") {
    f.server->close();
    held[0]->respond(200, {}, "bye");
    REQUIRE(run_until(f.loop, [&] { return a.end.has_value(); }));
    REQUIRE(*a.end);
    CHECK(a.head->headers.get("Connection") == "close");
    CHECK(a.body() == "bye");
    Collected b;
    auto call2 = request(f.loop, Endpoint::unix_socket(f.path), {}, b.callbacks());
    REQUIRE(run_until(f.loop, [&] { return b.end.has_value(); }));
    CHECK_FALSE(*b.end);
    CHECK(run_until(f.loop, [&] { return f.server->connection_count() == 0; }));
  }
  SECTION("destroying the server aborts it; the exchange outlives the server") {
    f.server.reset();
    REQUIRE(run_until(f.loop, [&] { return a.end.has_value(); }));
    CHECK_FALSE(*a.end);
    CHECK(held[0]->aborted());
    CHECK_FALSE(held[0]->write("x"));
    held[0]->respond(200, {}, "nobody hears this");
    bool got = false;
    held[0]->read_body(10, [&](Result<std::string> r) { got = !r.has_value(); });
    CHECK(got);
  }
  held.clear();
}
