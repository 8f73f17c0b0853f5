// SPDX-License-Identifier: Apache-2.0
// /files: streamed downloads with back-pressure, streamed (multipart, raw, gzip) uploads.
#include "guest-agent/files_service.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "guest-agent/file_writer.hpp"
#include "guest-agent/fs_identity.hpp"
#include "guest-agent/byte_range.hpp"
#include "guest-agent/gzip_inflater.hpp"
#include "common/json.hpp"
#include "guest-agent/multipart.hpp"
#include "guest-agent/paths.hpp"
#include "guest-agent/xattr_metadata.hpp"

namespace nexus::agent {

namespace {

constexpr size_t kDownloadChunk = 64 * 1024;
constexpr size_t kDownloadHighWater = 512 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

constexpr std::string_view kMetadataHeaderPrefix = "x-metadata-";

// X-Metadata-<key>: <value> headers (envd >= 0.6.2): nullopt when there are none.
Result<std::optional<FileMetadata>> metadata_headers(const http::Headers& headers) {
  std::optional<FileMetadata> out;
  for (const auto& [name, value] : headers.items()) {
    std::string lname = lower(name);
    if (lname.size() <= kMetadataHeaderPrefix.size() ||
        lname.compare(0, kMetadataHeaderPrefix.size(), kMetadataHeaderPrefix) != 0)
      continue;
    std::string key = lname.substr(kMetadataHeaderPrefix.size());
    if (!valid_metadata_key(key))
      return fail(Errc::invalid_argument, fmt::format("invalid metadata key '{}'", key));
    if (value.size() > kMaxMetadataValueBytes || value.find('\0') != std::string::npos)
      return fail(Errc::invalid_argument, fmt::format("invalid value for metadata key '{}'", key));
    if (!out) out.emplace();
    (*out)[key] = value;
    if (out->size() > kMaxMetadataEntries)
      return fail(Errc::invalid_argument,
                  fmt::format("more than {} metadata entries", kMaxMetadataEntries));
  }
  return out;
}

// Streams an open file into a started response, waiting for the socket to drain.
class DownloadPump : public std::enable_shared_from_this<DownloadPump> {
 public:
  DownloadPump(std::shared_ptr<http::Exchange> ex, UniqueFd fd, uint64_t size)
      : ex_(std::move(ex)), fd_(std::move(fd)), remaining_(size) {}

  void cancel() { keep_alive_.reset(); }

  void pump() {
    while (!ex_->aborted()) {
      if (remaining_ == 0) {
        ex_->finish();
        return;
      }
      if (ex_->pending_bytes() >= kDownloadHighWater) {
        std::weak_ptr<DownloadPump> weak = shared_from_this();
        ex_->on_drain([weak] {
          if (auto self = weak.lock()) self->pump();
        });
        keep_alive_ = shared_from_this();  // the exchange only holds a weak reference
        return;
      }
      char buf[kDownloadChunk];
      size_t want = remaining_ < sizeof buf ? static_cast<size_t>(remaining_) : sizeof buf;
      ssize_t n = ::read(fd_.get(), buf, want);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // The file shrank or failed while streaming: Content-Length cannot be honoured;
        // end the response so the client sees a truncated body instead of hanging.
        ex_->finish();
        break;
      }
      remaining_ -= static_cast<uint64_t>(n);
      if (!ex_->write(std::string_view(buf, static_cast<size_t>(n)))) break;
    }
    keep_alive_.reset();
  }

 private:
  std::shared_ptr<http::Exchange> ex_;
  UniqueFd fd_;
  uint64_t remaining_;
  std::shared_ptr<DownloadPump> keep_alive_;
};

// One upload request: body decoding, per-file writers, results.
class UploadSession : public std::enable_shared_from_this<UploadSession> {
 public:
  UploadSession(std::shared_ptr<http::Exchange> ex, AgentState& state, User user,
                std::optional<std::string> path)
      : ex_(std::move(ex)), state_(state), user_(std::move(user)), path_(std::move(path)) {}

  void run() {
    const auto& h = ex_->request().headers;
    std::string ctype(h.get("Content-Type").value_or(""));
    std::string enc = lower(h.get("Content-Encoding").value_or("identity"));
    if (enc != "identity" && enc != "gzip" && enc != "x-gzip" && !enc.empty())
      return error_and_discard(Error(Errc::invalid_argument,
                                     fmt::format("unsupported Content-Encoding '{}'", enc)));
    auto metadata = metadata_headers(h);
    if (!metadata) return error_and_discard(metadata.error());
    metadata_ = std::move(*metadata);
    if (lower(ctype).rfind("multipart/", 0) == 0) {
      auto boundary = multipart_boundary(ctype);
      if (!boundary) return error_and_discard(boundary.error());
      MultipartParser::Callbacks cb;
      cb.on_part_begin = [this](const PartInfo& p) { return part_begin(p); };
      cb.on_part_data = [this](std::string_view d) { return write_current(d); };
      cb.on_part_end = [this]() { return part_end(); };
      multipart_ = std::make_unique<MultipartParser>(std::move(*boundary), std::move(cb));
    } else {
      if (!path_)
        return error_and_discard(
            Error(Errc::invalid_argument, "path query parameter is required for raw body upload"));
      if (auto r = open_target(*path_); !r) return error_and_discard(r.error());
    }
    if (enc == "gzip" || enc == "x-gzip")
      inflater_ = std::make_unique<GzipInflater>([this](std::string_view d) { return decoded(d); });
    start_body();
  }

 private:
  void start_body() {
    auto self = shared_from_this();
    ex_->stream_body([self](std::string_view d) { self->on_data(d); },
                     [self](Result<void> r) { self->on_end(std::move(r)); });
  }

  void error_and_discard(Error e) {
    error_ = std::move(e);
    start_body();
  }

  void on_data(std::string_view data) {
    if (error_) return;  // discard the rest of the body
    Result<void> r = inflater_ ? inflater_->feed(data) : decoded(data);
    if (!r) fail_with(std::move(r).error());
  }

  void fail_with(Error e) {
    if (!error_) error_ = std::move(e);
    current_.reset();  // removes a file this upload created
  }

  Result<void> decoded(std::string_view data) {
    if (multipart_) return multipart_->feed(data);
    return write_current(data);
  }

  Result<void> open_target(const std::string& raw_path) {
    auto resolved = resolve_path(raw_path, user_.home, state_.default_workdir());
    if (!resolved) return fail(std::move(resolved).error());
    if (!seen_.insert(*resolved).second)
      return fail(Errc::invalid_argument, fmt::format("path '{}' is given more than once", *resolved));
    auto w = FileWriter::open(*resolved, user_, state_.switch_identity(), metadata_);
    if (!w) return fail(std::move(w).error());
    current_ = std::move(*w);
    return {};
  }

  Result<void> part_begin(const PartInfo& p) {
    if (p.name != "file") {
      skipping_ = true;  // other fields are ignored
      return {};
    }
    skipping_ = false;
    if (path_) {
      if (files_ > 0)
        return fail(Errc::invalid_argument, "only one file part is allowed with a path parameter");
      ++files_;
      return open_target(*path_);
    }
    if (!p.has_filename || p.filename.empty())
      return fail(Errc::invalid_argument, "file part has no filename and no path was given");
    ++files_;
    return open_target(p.filename);
  }

  Result<void> write_current(std::string_view d) {
    if (skipping_ || !current_) return {};
    return current_->write(d);
  }

  Result<void> part_end() {
    if (skipping_ || !current_) return {};
    return commit_current();
  }

  Result<void> commit_current() {
    auto w = std::move(current_);
    NEXUS_TRY(w->commit());
    Json entry{{"path", w->path()}, {"name", base_name(w->path())}, {"type", "file"}};
    if (!w->metadata().empty()) entry["metadata"] = w->metadata();
    results_.push_back(std::move(entry));
    return {};
  }

  void on_end(Result<void> r) {
    if (!r) {
      current_.reset();
      if (ex_->aborted() || ex_->responded()) return;
      if (r.error().is(Errc::too_large)) return;  // the server answered 413
      if (!error_) error_ = std::move(r).error();
    }
    if (!error_ && inflater_)
      if (auto f = inflater_->finish(); !f) error_ = std::move(f).error();
    if (!error_ && multipart_)
      if (auto f = multipart_->finish(); !f) error_ = std::move(f).error();
    if (!error_ && !multipart_ && current_)
      if (auto c = commit_current(); !c) error_ = std::move(c).error();
    if (!error_ && results_.empty())
      error_ = Error(Errc::invalid_argument, "the request contains no file");
    current_.reset();
    if (ex_->responded() || ex_->aborted()) return;
    if (error_) return respond_rest_error(*ex_, files_http_status(*error_), error_->message());
    http::Headers h;
    h.set("Content-Type", "application/json");
    ex_->respond(200, std::move(h), dump_json(results_));
  }

  std::shared_ptr<http::Exchange> ex_;
  AgentState& state_;
  User user_;
  std::optional<std::string> path_;
  std::optional<FileMetadata> metadata_;
  std::unique_ptr<MultipartParser> multipart_;
  std::unique_ptr<GzipInflater> inflater_;
  std::unique_ptr<FileWriter> current_;
  bool skipping_ = false;
  size_t files_ = 0;
  std::set<std::string> seen_;
  Json results_ = Json::array();
  std::optional<Error> error_;
};

}  // namespace

int files_http_status(const Error& error) {
  if (error.code().category() == nexus_category()) {
    switch (static_cast<Errc>(error.code().value())) {
      case Errc::invalid_argument:
      case Errc::protocol: return 400;
      case Errc::not_found: return 404;
      case Errc::unauthenticated: return 401;
      case Errc::permission_denied: return 403;
      case Errc::too_large: return 413;
      case Errc::already_exists:
      case Errc::conflict: return 409;
      default: return 500;
    }
  }
  switch (error.errno_value()) {
    case ENOENT: return 404;
    case ENOTDIR:
    case EISDIR:
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP: return 400;
    case EACCES:
    case EPERM:
    case EROFS: return 403;
    case ENOSPC:
    case EDQUOT: return 507;
    case EFBIG: return 413;
    default: return 500;
  }
}

void respond_rest_error(http::Exchange& ex, int status, std::string_view message, http::Headers headers) {
  headers.set("Content-Type", "application/json");
  ex.respond(status, std::move(headers), dump_json(Json{{"code", status}, {"message", message}}));
}

void FilesService::download(std::shared_ptr<http::Exchange> ex) {
  auto q = parse_query(ex->request().query);
  auto user = state_.resolve_user(q.count("username") ? q["username"] : std::string());
  if (!user) return respond_rest_error(*ex, 401, user.error().message());
  if (!q.count("path")) return respond_rest_error(*ex, 400, "path query parameter is required");
  auto path = resolve_path(q["path"], user->home, state_.default_workdir());
  if (!path) return respond_rest_error(*ex, 400, path.error().message());
  UniqueFd fd;
  {
    FsIdentity as_user(*user, state_.switch_identity());
    // O_NONBLOCK: opening a FIFO must not hang the agent.
    fd = UniqueFd(::open(path->c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  }
  if (!fd) {
    int err = errno;
    if (err == ENOENT)
      return respond_rest_error(*ex, 404, fmt::format("path '{}' does not exist", *path));
    auto e = Error::from_errno(err, fmt::format("opening '{}'", *path));
    return respond_rest_error(*ex, files_http_status(e), e.message());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return respond_rest_error(*ex, 500, fmt::format("stat '{}' failed", *path));
  if (S_ISDIR(st.st_mode))
    return respond_rest_error(*ex, 400, fmt::format("path '{}' is a directory", *path));
  if (!S_ISREG(st.st_mode))
    return respond_rest_error(*ex, 400, fmt::format("path '{}' is not a regular file", *path));
  int fl = ::fcntl(fd.get(), F_GETFL);
  if (fl >= 0) (void)::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK);
  auto size = static_cast<uint64_t>(st.st_size);
  // One byte range, as envd's ServeContent; with If-Range (whose validator we do not keep)
  // the whole file, which is always a correct answer.
  auto range_header = ex->request().headers.get("Range");
  ByteRange range;
  if (range_header && !ex->request().headers.has("If-Range")) range = parse_byte_range(*range_header, size);
  if (range.kind == ByteRange::Kind::unsatisfiable) {
    http::Headers h;
    h.set("Content-Range", fmt::format("bytes */{}", size));
    return respond_rest_error(*ex, 416, fmt::format("range not satisfiable for {} bytes", size), std::move(h));
  }
  http::Headers h;
  h.set("Content-Type", "application/octet-stream");
  h.set("Accept-Ranges", "bytes");
  int status = 200;
  uint64_t length = size;
  if (range.kind == ByteRange::Kind::partial) {
    if (::lseek(fd.get(), static_cast<off_t>(range.start), SEEK_SET) < 0)
      return respond_rest_error(*ex, 500, fmt::format("seeking in '{}' failed", *path));
    status = 206;
    length = range.length;
    h.set("Content-Range", fmt::format("bytes {}-{}/{}", range.start, range.start + range.length - 1, size));
  }
  h.set("Content-Length", std::to_string(length));
  ex->start(status, std::move(h));
  if (ex->request().method == "HEAD") return ex->finish();
  auto pump = std::make_shared<DownloadPump>(ex, std::move(fd), length);
  std::weak_ptr<DownloadPump> weak = pump;
  ex->on_abort([weak] {
    if (auto p = weak.lock()) p->cancel();
  });
  pump->pump();
}

void FilesService::upload(std::shared_ptr<http::Exchange> ex) {
  auto q = parse_query(ex->request().query);
  auto user = state_.resolve_user(q.count("username") ? q["username"] : std::string());
  if (!user) return respond_rest_error(*ex, 401, user.error().message());
  std::optional<std::string> path;
  if (auto it = q.find("path"); it != q.end() && !it->second.empty()) path = it->second;
  auto session = std::make_shared<UploadSession>(ex, state_, std::move(*user), std::move(path));
  session->run();
}

}  // namespace nexus::agent
