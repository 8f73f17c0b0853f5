// SPDX-License-Identifier: Apache-2.0
// The live build view's terminal side: the event stream on a thread of its own, the screen
// drawn from the main thread (events, a tick, SIGWINCH and SIGINT wake it through pipes).
#include "cli/build_watch.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli/build_view.hpp"
#include "cli/exit_codes.hpp"

namespace nexus::cli {

namespace {

constexpr int kTickMs = 250;
int g_signal_pipe = -1;  // SIGWINCH and SIGINT write a byte here

void on_signal(int sig) {
  char c = sig == SIGINT ? 'i' : 'w';
  if (g_signal_pipe >= 0) (void)!::write(g_signal_pipe, &c, 1);
}

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (::pipe2(fd, O_CLOEXEC | O_NONBLOCK) != 0) fd[0] = fd[1] = -1;
  }
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  void drain() const {
    char buf[64];
    while (::read(fd[0], buf, sizeof buf) > 0) {
    }
  }
};

// What the stream thread hands over.
struct Inbox {
  std::mutex mu;
  std::vector<Json> events;             // guarded by mu
  bool ended = false;                   // guarded by mu
  std::optional<ApiFailure> failure;    // guarded by mu
};

// The terminal in the alternate screen with the cursor hidden, put back on every way out.
class Screen {
 public:
  explicit Screen(const Console& c) : console_(c) { console_.out("\x1b[?1049h\x1b[?25l"); }
  ~Screen() { console_.out("\x1b[?25h\x1b[?1049l"); }
  void draw(const std::vector<std::string>& lines) const {
    std::string text = "\x1b[H";
    for (size_t i = 0; i < lines.size(); ++i) text += lines[i] + "\x1b[K" + (i + 1 < lines.size() ? "\r\n" : "");
    console_.out(text + "\x1b[J");
  }

 private:
  const Console& console_;
};

std::pair<int, int> terminal_size(const Console& console) {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) return {ws.ws_col, ws.ws_row};
  return {console.width > 0 ? console.width : 80, 24};
}

// The build id for `watch NAME`: the template's running build.
ApiResult<std::string> build_of_template(const ApiClient& api, const std::string& name) {
  auto t = api.call({"GET", "/v1/templates/" + encode_path_segment(name), std::nullopt});
  if (!t) return tl::unexpected(t.error());
  auto it = t->find("build_id");
  if (it == t->end() || !it->is_string() || it->get<std::string>().empty())
    return tl::unexpected(ApiFailure{ApiFailure::Kind::api, 404, "not_found",
                                     fmt::format("template '{}' has no build running", name)});
  return it->get<std::string>();
}

int outcome(const BuildView& view, const Console& console) {
  if (view.succeeded()) return exit_ok;
  if (!view.finished()) console.err("nexus: the build's event stream ended before the build did\n");
  return exit_failed;
}

int watch_live(const ApiClient& api, const ApiRequest& request, const Console& console) {
  Pipe wake, signals;
  if (wake.fd[0] < 0 || signals.fd[0] < 0) {
    console.err("nexus: cannot create a pipe\n");
    return exit_failed;
  }
  auto inbox = std::make_shared<Inbox>();
  int wake_fd = ::dup(wake.fd[1]);  // the thread's own, closed by it: it may outlive us
  std::thread([api, request, inbox, wake_fd] {
    auto r = api.stream(request, [&](const Json& ev) {
      {
        std::lock_guard lock(inbox->mu);
        inbox->events.push_back(ev);
      }
      (void)!::write(wake_fd, "e", 1);
    });
    {
      std::lock_guard lock(inbox->mu);
      inbox->ended = true;
      if (!r) inbox->failure = r.error();
    }
    (void)!::write(wake_fd, "e", 1);
    ::close(wake_fd);
  }).detach();

  g_signal_pipe = signals.fd[1];
  struct sigaction sa{}, old_winch{}, old_int{};
  sa.sa_handler = on_signal;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGWINCH, &sa, &old_winch);
  ::sigaction(SIGINT, &sa, &old_int);

  BuildView view;
  bool interrupted = false, ended = false;
  std::optional<ApiFailure> failure;
  {
    Screen screen(console);
    while (!ended && !interrupted) {
      {
        std::vector<Json> events;
        {
          std::lock_guard lock(inbox->mu);
          events.swap(inbox->events);
          ended = inbox->ended;
          failure = inbox->failure;
        }
        for (const auto& ev : events) view.update(ev, console.now());
      }
      auto [cols, rows] = terminal_size(console);
      screen.draw(view.render(cols, rows, console.now()));
      if (ended) break;
      pollfd fds[2] = {{wake.fd[0], POLLIN, 0}, {signals.fd[0], POLLIN, 0}};
      int n = ::poll(fds, 2, kTickMs);
      if (n > 0 && (fds[1].revents & POLLIN)) {
        char c = 0;
        while (::read(signals.fd[0], &c, 1) == 1)
          if (c == 'i') interrupted = true;
      }
      wake.drain();
    }
  }  // the normal screen is back

  ::sigaction(SIGWINCH, &old_winch, nullptr);
  ::sigaction(SIGINT, &old_int, nullptr);
  g_signal_pipe = -1;
  // What stays on the terminal: the checklist and the outcome.
  auto [cols, rows] = terminal_size(console);
  (void)rows;
  std::string summary;
  for (const auto& line : view.render(cols, static_cast<int>(view.steps().size()) + 2, console.now()))
    summary += line + "\n";
  console.out(summary);
  if (interrupted) {
    console.err("nexus: stopped watching (the build goes on)\n");
    return 130;
  }
  if (failure) return report_failure(console, *failure, api.socket_path(), false);
  if (!view.succeeded() && view.finished()) console.err(fmt::format("nexus: build failed: {}\n", view.error_message()));
  return outcome(view, console);
}

}  // namespace

int run_build_watch(const Command& cmd, const ApiClient& api, const Console& console) {
  std::string build_id = cmd.subject;
  if (cmd.id == CommandId::template_watch) {
    auto id = build_of_template(api, cmd.subject);
    if (!id) return report_failure(console, id.error(), cmd.socket, false);
    build_id = *id;
  }
  return follow_build(cmd, api, console, build_id);
}

int follow_build(const Command& cmd, const ApiClient& api, const Console& console, const std::string& build_id) {
  ApiRequest request{"GET", "/v1/builds/" + encode_path_segment(build_id) + "/events", std::nullopt};
  if (console.out_is_tty && !cmd.json && !cmd.quiet) return watch_live(api, request, console);

  BuildView view;
  auto streamed = api.stream(request, [&](const Json& ev) {
    if (cmd.json) {
      console.out(json_line(ev));
      view.update(ev, console.now());
      return;
    }
    for (const auto& line : view.update(ev, console.now()))
      if (!cmd.quiet) console.out(line + "\n");
  });
  if (!streamed) return report_failure(console, streamed.error(), cmd.socket, false);
  if (!view.succeeded() && view.finished() && !cmd.json)
    console.err(fmt::format("nexus: build failed: {}\n", view.error_message()));
  return outcome(view, console);
}

}  // namespace nexus::cli
