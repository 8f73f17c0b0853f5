// SPDX-License-Identifier: Apache-2.0
#include "net/nft/nft_context.hpp"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nftables/libnftables.h>

#include <memory>

#include <fmt/format.h>

namespace nexus::net::nft {
namespace {

// libnftables' answers are text; anything larger than this is not one we asked for.
constexpr size_t kMaxListing = 64u << 20;

struct CtxFree {
  void operator()(nft_ctx* c) const { nft_ctx_free(c); }
};
using Ctx = std::unique_ptr<nft_ctx, CtxFree>;

// libnftables exits the whole process when it cannot open its netlink socket (a kernel
// without nfnetlink): ask the kernel first, and fail like any other call instead.
Result<void> check_nfnetlink() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return fail(Errc::unavailable, fmt::format("nftables: no nfnetlink in this kernel ({})", std::strerror(errno)));
  ::close(fd);
  return {};
}

Result<Ctx> make_ctx(bool json) {
  NEXUS_TRY(check_nfnetlink());
  Ctx ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) return fail(Errc::internal, "nft_ctx_new failed (out of memory?)");
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0)
    return fail(Errc::internal, "libnftables: cannot buffer output");
  unsigned flags = NFT_CTX_OUTPUT_HANDLE | NFT_CTX_OUTPUT_NUMERIC_PRIO;
  if (json) flags |= NFT_CTX_OUTPUT_JSON;
  nft_ctx_output_set_flags(ctx.get(), flags);
  return ctx;
}

std::string error_text(nft_ctx* ctx) {
  const char* e = nft_ctx_get_error_buffer(ctx);
  std::string s = e ? e : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  // libnftables repeats the offending command with a caret line under it; the first lines
  // say what went wrong, which is what a log needs.
  if (s.size() > 2000) s = s.substr(0, 2000) + "...";
  return s.empty() ? "libnftables failed without a message" : s;
}

}  // namespace

Error nft_error(std::string_view message, std::string_view what) {
  auto has = [&](std::string_view w) { return message.find(w) != std::string_view::npos; };
  std::string text = fmt::format("{}: {}", what, message);
  if (has("Operation not permitted") || has("Permission denied"))
    return Error(Errc::permission_denied, text + " (needs CAP_NET_ADMIN in this network namespace)");
  if (has("Protocol not supported") || has("Operation not supported") || has("Address family not supported"))
    return Error(Errc::unavailable, text + " (no nf_tables in this kernel?)");
  if (has("File exists")) return Error(Errc::already_exists, text);
  if (has("No such file or directory")) return Error(Errc::not_found, text);
  return Error(Errc::internal, text);
}

Result<void> run_batch(std::string_view commands, std::string_view what) {
  auto ctx = make_ctx(false);
  if (!ctx) return fail(std::move(ctx).error().wrap(what));
  std::string buf(commands);
  if (nft_run_cmd_from_buffer(ctx->get(), buf.c_str()) != 0) return fail(nft_error(error_text(ctx->get()), what));
  return {};
}

Result<Json> list_json(std::string_view command, std::string_view what) {
  auto ctx = make_ctx(true);
  if (!ctx) return fail(std::move(ctx).error().wrap(what));
  std::string buf(command);
  if (nft_run_cmd_from_buffer(ctx->get(), buf.c_str()) != 0) return fail(nft_error(error_text(ctx->get()), what));
  const char* out = nft_ctx_get_output_buffer(ctx->get());
  std::string_view text = out ? out : "";
  if (text.size() > kMaxListing) return fail(Errc::too_large, fmt::format("{}: listing of {} bytes", what, text.size()));
  auto j = parse_json(text);
  if (!j) return fail(std::move(j).error().wrap(what));
  if (!j->is_object() || !j->contains("nftables") || !(*j)["nftables"].is_array())
    return fail(Errc::protocol, fmt::format("{}: libnftables JSON without an \"nftables\" array", what));
  return std::move((*j)["nftables"]);
}

Result<void> nft_available() {
  // Listing needs what every other call needs: nf_tables in the kernel and CAP_NET_ADMIN
  // (nfnetlink checks it on every message, reads included).
  auto r = list_json("list tables", "nftables probe");
  if (!r) return fail(std::move(r).error());
  return {};
}

}  // namespace nexus::net::nft
