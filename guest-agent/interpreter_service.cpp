// SPDX-License-Identifier: Apache-2.0
// /execute and /contexts routing, request validation and the context registry.
#include "guest-agent/interpreter_service.hpp"

#include "guest-agent/fs_identity.hpp"

#include <sys/stat.h>

#include <algorithm>

#include <fmt/format.h>

#include "common/json.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "guest-agent/interpreter_execution.hpp"
#include "guest-agent/paths.hpp"

namespace nexus::agent {

namespace {

constexpr std::string_view kContexts = "/contexts";

/// The E2B server answers errors as plain text; the SDK shows the body as the message.
void respond_text(http::Exchange& ex, int status, std::string_view message) {
  http::Headers h;
  h.set("Content-Type", "text/plain; charset=utf-8");
  ex.respond(status, std::move(h), std::string(message));
}

void respond_json(http::Exchange& ex, int status, const Json& body) {
  http::Headers h;
  h.set("Content-Type", "application/json");
  ex.respond(status, std::move(h), dump_json(body));
}

Result<Json> parse_object(std::string_view body) {
  auto j = parse_json(body.empty() ? std::string_view("{}") : body);
  if (!j) return fail(std::move(j).error());
  if (!j->is_object()) return fail(Errc::invalid_argument, "the request body must be a JSON object");
  return j;
}

Result<std::map<std::string, std::string>> env_vars(const Json& req) {
  std::map<std::string, std::string> out;
  auto it = req.find("env_vars");
  if (it == req.end() || it->is_null()) return out;
  if (!it->is_object()) return fail(Errc::invalid_argument, "'env_vars' must be an object");
  for (const auto& [k, v] : it->items()) {
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos)
      return fail(Errc::invalid_argument, fmt::format("invalid environment variable name '{}'", k));
    if (v.is_string()) out[k] = v.get<std::string>();
    else if (v.is_number() || v.is_boolean()) out[k] = dump_json(v);
    else return fail(Errc::invalid_argument, "'env_vars' values must be strings");
    if (out[k].find('\0') != std::string::npos)
      return fail(Errc::invalid_argument, "'env_vars' values must not contain NUL");
  }
  return out;
}

std::string new_context_id() {
  std::string h = random_hex(16);
  // A version-4 UUID, as the E2B server's ids are.
  h[12] = '4';
  h[16] = "89ab"[h[16] % 4];
  return fmt::format("{}-{}-{}-{}-{}", h.substr(0, 8), h.substr(8, 4), h.substr(12, 4),
                     h.substr(16, 4), h.substr(20));
}

}  // namespace

InterpreterService::InterpreterService(uv::Loop& loop, const AgentState& state)
    : loop_(loop), state_(state) {}

InterpreterService::~InterpreterService() {
  for (auto& c : contexts_) c->close();
}

bool InterpreterService::is_execute_path(std::string_view path) { return path == "/execute"; }

bool InterpreterService::is_contexts_path(std::string_view path) {
  return path == kContexts || starts_with(path, std::string(kContexts) + "/");
}

void InterpreterService::handle(std::shared_ptr<http::Exchange> ex) {
  const auto& head = ex->request();
  std::string_view path = head.path;
  const std::string& method = head.method;
  auto with_body = [this, ex, path](void (InterpreterService::*fn)(std::shared_ptr<http::Exchange>, std::string)) {
    size_t limit = is_execute_path(path) ? kMaxRequestBytes : kMaxContextRequestBytes;
    ex->read_body(limit, [this, ex, fn](Result<std::string> body) {
      if (!body) return;  // too large (the server answered 413) or the client went away
      (this->*fn)(ex, std::move(*body));
    });
  };

  if (is_execute_path(path)) {
    if (method != "POST") return respond_text(*ex, 405, "Method Not Allowed");
    return with_body(&InterpreterService::execute);
  }
  if (path == kContexts) {
    if (method == "GET") return list_contexts(*ex);
    if (method == "POST") return with_body(&InterpreterService::create_context);
    return respond_text(*ex, 405, "Method Not Allowed");
  }
  // /contexts/{id} and /contexts/{id}/restart
  std::string_view rest = path.substr(kContexts.size() + 1);
  bool restart = false;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/restart") return respond_text(*ex, 404, "Not Found");
    restart = true;
    rest = rest.substr(0, slash);
  }
  std::string id(rest);
  auto ctx = find(id);
  if (restart) {
    if (method != "POST") return respond_text(*ex, 405, "Method Not Allowed");
    if (!ctx) return respond_text(*ex, 404, fmt::format("Context {} not found", id));
    if (auto r = ctx->restart(); !r) {
      log::warning("interpreter", "restarting context '{}': {}", id, r.error().message());
      return respond_text(*ex, 500, r.error().message());
    }
    return ex->respond(204, {}, {});
  }
  if (method != "DELETE") return respond_text(*ex, 405, "Method Not Allowed");
  if (!ctx) return respond_text(*ex, 404, fmt::format("Context {} not found", id));
  remove(id);
  ex->respond(204, {}, {});
}

void InterpreterService::execute(std::shared_ptr<http::Exchange> ex, std::string body) {
  auto req = parse_object(body);
  if (!req) return respond_text(*ex, 400, req.error().message());
  auto it = req->find("code");
  if (it == req->end() || !it->is_string()) return respond_text(*ex, 400, "'code' must be a string");
  std::string code = it->get<std::string>();
  auto context_id = json_string(*req, "context_id");
  if (!context_id) return respond_text(*ex, 400, context_id.error().message());
  auto language = json_string(*req, "language");
  if (!language) return respond_text(*ex, 400, language.error().message());
  auto env = env_vars(*req);
  if (!env) return respond_text(*ex, 400, env.error().message());
  if (!context_id->empty() && !language->empty())
    return respond_text(*ex, 400, "Only one of context_id or language can be provided");

  std::shared_ptr<Context> ctx;
  if (!context_id->empty()) {
    ctx = find(*context_id);
    if (!ctx) return respond_text(*ex, 404, fmt::format("Context {} not found", *context_id));
  } else {
    auto lang = parse_language(*language);
    // 404: the code-interpreter SDK shows a 404's text (NotFoundError), not a 400's.
    if (!lang) return respond_text(*ex, 404, lang.error().message());
    auto c = default_context(*lang);
    if (!c) return respond_text(*ex, 500, c.error().message());
    ctx = std::move(*c);
  }
  // Start a dead kernel now, so a kernel that cannot start is an HTTP error, not a stream.
  if (auto r = ctx->ensure_kernel(); !r) return respond_text(*ex, 500, r.error().message());
  ctx->submit(std::make_shared<Execution>(loop_, ex, std::move(code), std::move(*env)));
}

void InterpreterService::create_context(std::shared_ptr<http::Exchange> ex, std::string body) {
  auto req = parse_object(body);
  if (!req) return respond_text(*ex, 400, req.error().message());
  auto language = json_string(*req, "language");
  if (!language) return respond_text(*ex, 400, language.error().message());
  auto cwd = json_string(*req, "cwd");
  if (!cwd) return respond_text(*ex, 400, cwd.error().message());
  auto lang = parse_language(*language);
  if (!lang) return respond_text(*ex, 404, lang.error().message());
  auto ctx = make_context(*lang, *cwd);
  if (!ctx) {
    int status = ctx.error().is(Errc::invalid_argument) ? 400 : 500;
    return respond_text(*ex, status, ctx.error().message());
  }
  respond_json(*ex, 200, (*ctx)->describe());
}

void InterpreterService::list_contexts(http::Exchange& ex) {
  ensure_listed_defaults();
  Json out = Json::array();
  for (const auto& c : contexts_) out.push_back(c->describe());
  respond_json(ex, 200, out);
}

std::shared_ptr<Context> InterpreterService::find(std::string_view id) const {
  for (const auto& c : contexts_)
    if (c->id() == id) return c;
  return nullptr;
}

Result<std::shared_ptr<Context>> InterpreterService::make_context(Language language,
                                                                  std::string_view cwd, bool lazy) {
  if (contexts_.size() >= kMaxContexts)
    return fail(Errc::too_large, fmt::format("too many contexts (at most {})", kMaxContexts));
  auto user = state_.resolve_user("");
  if (!user) return fail(std::move(user).error());
  auto dir = resolve_path(cwd, user->home);
  if (!dir) return fail(std::move(dir).error());
  if (!user_can_enter(*dir, *user, state_.switch_identity()))
    return fail(Errc::invalid_argument, fmt::format("cwd '{}' is not a directory", *dir));
  auto ctx = std::make_shared<Context>(loop_, state_, new_context_id(), language, *dir);
  if (!lazy)
    if (auto r = ctx->ensure_kernel(); !r) return fail(std::move(r).error());
  contexts_.push_back(ctx);
  log::debug("interpreter", "created {} context '{}' in '{}'", language_name(language), ctx->id(), *dir);
  return ctx;
}

void InterpreterService::ensure_listed_defaults() {
  if (defaults_listed_) return;
  defaults_listed_ = true;
  for (Language language : {Language::python, Language::javascript}) {
    if (defaults_.count(language)) continue;
    auto ctx = make_context(language, "", /*lazy=*/true);
    if (ctx) defaults_[language] = (*ctx)->id();  // else made (and its error shown) on first use
  }
}

Result<std::shared_ptr<Context>> InterpreterService::default_context(Language language) {
  ensure_listed_defaults();
  if (auto it = defaults_.find(language); it != defaults_.end())
    if (auto c = find(it->second)) return c;
  auto ctx = make_context(language, "");
  if (!ctx) return ctx;
  defaults_[language] = (*ctx)->id();
  return ctx;
}

void InterpreterService::remove(const std::string& id) {
  auto it = std::find_if(contexts_.begin(), contexts_.end(),
                         [&](const auto& c) { return c->id() == id; });
  if (it == contexts_.end()) return;
  auto ctx = *it;
  contexts_.erase(it);
  for (auto d = defaults_.begin(); d != defaults_.end();) {
    if (d->second == id) d = defaults_.erase(d);
    else ++d;
  }
  ctx->close();
}

}  // namespace nexus::agent
