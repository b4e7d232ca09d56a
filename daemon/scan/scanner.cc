// SPDX-License-Identifier: Apache-2.0
#include "scan/scanner.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "scan/formats.h"
#include "scan/pickle.h"
#include "scan/zip.h"

namespace nbw {
namespace {

constexpr size_t kHead = 512;  // bytes sniffed (tar's magic sits at 257)

bool StartsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

std::string Join(const std::string& outer, const std::string& inner) {
  return outer.empty() ? inner : outer + "!" + inner;
}

enum class Format {
  kUnknown,
  kEmpty,
  kPickle,
  kZip,
  kNpy,
  kHdf5,
  kSafetensors,
  kArchive,
  kCompressed,
  kZlib
};

// A zlib stream header (RFC 1950): deflate, and a check value that makes
// the two bytes a multiple of 31. joblib's default compression.
bool LooksLikeZlib(std::string_view h) {
  if (h.size() < 2) return false;
  auto cmf = static_cast<uint8_t>(h[0]), flg = static_cast<uint8_t>(h[1]);
  return cmf == 0x78 && (cmf * 256 + flg) % 31 == 0 && !(flg & 0x20);
}

Format Sniff(std::string_view h, uint64_t size) {
  if (size == 0) return Format::kEmpty;
  if (LooksLikeZip(h)) return Format::kZip;
  if (StartsWith(h, "\x93NUMPY")) return Format::kNpy;
  if (StartsWith(h, "\x89HDF\r\n\x1a\n")) return Format::kHdf5;
  if (StartsWith(h, "7z\xbc\xaf\x27\x1c") || (h.size() > 262 && h.substr(257, 5) == "ustar")) {
    return Format::kArchive;
  }
  // gzip, bzip2, xz, lzma, zstd, and joblib's own zlib ("ZF")
  if (StartsWith(h, "\x1f\x8b") || StartsWith(h, "BZh") ||
      StartsWith(h,
                 "\xfd"
                 "7zXZ") ||
      StartsWith(h, std::string_view("\x5d\x00\x00", 3)) || StartsWith(h, "\x28\xb5\x2f\xfd") ||
      StartsWith(h, "ZF0x")) {
    return Format::kCompressed;
  }
  if (LooksLikeZlib(h)) return Format::kZlib;
  if (h.size() >= 9 && h[8] == '{') {
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= static_cast<uint64_t>(static_cast<uint8_t>(h[i])) << (8 * i);
    if (n >= 2 && n <= size - 8) return Format::kSafetensors;
  }
  if (LooksLikePickle(h)) return Format::kPickle;
  return Format::kUnknown;
}

// One scan of one file: the report, the budget, and the format handlers.
class Scan {
 public:
  Scan(const ModelGuardPolicy& policy, const ScanLimits& limits, ScanReport& report)
      : policy_(policy), limits_(limits), report_(report) {}

  // `src` is a file or a member ("a.zip!archive/data.pkl"); `named_model`
  // says the member is one a loader reads (so a failed pickle is the
  // file's problem, not data that happened to look like one).
  void Content(const ByteSource& src, const std::string& member, int depth, bool named_model);

 private:
  void Pickle(const ByteSource& src, const std::string& member);
  void Zip(const ByteSource& src, const std::string& member, int depth);
  void Archive(const ByteSource& src, const std::string& member, int depth, bool raw);
  void Zlib(const ByteSource& src, const std::string& member, int depth);
  bool Budget(uint64_t bytes, const std::string& member) {
    inflated_ += bytes;
    if (inflated_ <= limits_.inflated_total) return true;
    report_.Unscannable(member, 0,
                        fmt::format("members inflate past {} bytes in total (archive bomb?)",
                                    limits_.inflated_total));
    return false;
  }
  void SetFormat(std::string_view f) {
    if (report_.format.empty()) report_.format = f;
  }

  const ModelGuardPolicy& policy_;
  const ScanLimits& limits_;
  ScanReport& report_;
  uint64_t inflated_ = 0;
};

void Scan::Content(const ByteSource& src, const std::string& member, int depth, bool named_model) {
  if (depth > limits_.depth) {
    report_.Unscannable(member, 0, fmt::format("containers nested deeper than {}", limits_.depth));
    return;
  }
  std::string head(std::min<uint64_t>(kHead, src.size()), '\0');
  if (Status s = src.ReadAt(0, head.data(), head.size()); !s.ok()) {
    report_.Unscannable(member, 0, s.message());
    return;
  }
  switch (Sniff(head, src.size())) {
    case Format::kEmpty:
      SetFormat("empty");
      report_.Unscannable(member, 0, "empty");
      return;
    case Format::kZip: return Zip(src, member, depth);
    case Format::kNpy: return ScanNpy(src, member, policy_, report_);
    case Format::kHdf5:
      SetFormat("hdf5");
      report_.Unscannable(member, 0,
                          "HDF5 (Keras .h5): this build does not read HDF5; load it with "
                          "safe_mode or convert to .keras");
      return;
    case Format::kSafetensors: return CheckSafetensors(src, member, report_);
    case Format::kArchive: return Archive(src, member, depth, false);
    case Format::kCompressed: return Archive(src, member, depth, true);
    case Format::kZlib: return Zlib(src, member, depth);
    case Format::kPickle: return Pickle(src, member);
    case Format::kUnknown: break;
  }
  // Not a known format. A protocol 0 pickle is plain text and has no magic:
  // if the content parses as one (or names a global before failing), it is
  // one; otherwise it is nothing a model loader would run.
  ScanReport trial;
  PickleScanner ps(policy_, trial, member);
  Cursor in(src);
  PickleOutcome o = ps.ScanStacked(in);
  if (o.stopped || o.globals > 0) {
    SetFormat("pickle");
    report_.Merge(std::move(trial));
    return;
  }
  SetFormat("unknown");
  if (named_model) report_.Unscannable(member, 0, "not a model format the scanner knows");
}

void Scan::Pickle(const ByteSource& src, const std::string& member) {
  SetFormat("pickle");
  PickleScanner ps(policy_, report_, member);
  Cursor in(src);
  // Raw bytes after the last pickle (legacy PyTorch storages) are left
  // alone: pickle.load never reads past STOP.
  ps.ScanStacked(in);
}

void Scan::Zip(const ByteSource& src, const std::string& member, int depth) {
  auto dir = ReadZipDirectory(src);
  if (!dir.ok()) {
    SetFormat("zip");
    report_.Unscannable(member, 0, dir.status().message());
    return;
  }
  bool torch = false, keras = false, npz = !dir->empty();
  for (const auto& e : *dir) {
    torch |= EndsWith(e.name, "/data.pkl") || e.name == "data.pkl";
    keras |= e.name == "config.json";
    npz &= EndsWith(e.name, ".npy");
  }
  SetFormat(torch ? "pytorch-zip" : keras ? "keras" : npz ? "npz" : "zip");
  for (const auto& e : *dir) {
    const std::string name = Join(member, e.name);
    if (!e.mismatch.empty()) {
      report_.Add({Verdict::kSuspicious, "zip_header", name, e.local_offset, "",
                   "central directory and local header disagree (" + e.mismatch +
                       "): a trick to make strict zip readers, and scanners on them, give up"});
    }
    if (EndsWith(e.name, "/")) continue;
    const bool pkl = EndsWith(e.name, ".pkl") || EndsWith(e.name, ".pickle");
    if (keras && e.name == "config.json") {
      if (!Budget(e.size, name)) return;
      auto m = OpenZipMember(src, e, std::min<uint64_t>(limits_.member_bytes, 64 << 20));
      if (!m.ok()) {
        report_.Unscannable(name, 0, m.status().message());
        continue;
      }
      ScanKerasConfig(**m, name, policy_, report_);
      continue;
    }
    auto head = ZipMemberHead(src, e, kHead);
    if (!head.ok()) {
      report_.Unscannable(name, 0, head.status().message());
      continue;
    }
    Format f = Sniff(*head, e.size);
    // Tensor data (archive/data/0, ...) is only sniffed, never read: it
    // goes through the parser only if it starts like something that runs.
    if (!pkl && (f == Format::kUnknown || f == Format::kEmpty || f == Format::kSafetensors ||
                 f == Format::kHdf5)) {
      continue;
    }
    if (!Budget(e.method == 0 ? 0 : e.size, name)) return;
    auto m = OpenZipMember(src, e, limits_.member_bytes);
    if (!m.ok()) {
      report_.Unscannable(name, 0, m.status().message());
      continue;
    }
    if (pkl || f != Format::kPickle) {
      Content(**m, name, depth + 1, pkl);
      continue;
    }
    // Data that starts like a pickle under a name no loader reads as one:
    // counts only if it is a whole pickle (tensor bytes can start 0x80 0x02).
    ScanReport trial;
    PickleScanner ps(policy_, trial, name);
    Cursor in(**m);
    PickleOutcome o = ps.ScanOne(in);
    if (o.stopped) {
      const bool found = !trial.findings.empty();
      report_.Merge(std::move(trial));
      if (found) {
        report_.Add({Verdict::kSuspicious, "hidden_pickle", name, 0, "",
                     "a pickle under a member name loaders do not announce"});
      }
    }
  }
}

// libarchive reads tar, 7z and single compressed streams (joblib's
// compressed dumps) from our source through callbacks; each entry is
// scanned by content.
struct ArchiveIn {
  const ByteSource* src;
  uint64_t pos = 0;
  std::string buf = std::string(64 * 1024, '\0');
};

la_ssize_t ArchiveRead(struct archive*, void* data, const void** out) {
  auto* in = static_cast<ArchiveIn*>(data);
  size_t n = std::min<uint64_t>(in->buf.size(), in->src->size() - in->pos);
  if (n && !in->src->ReadAt(in->pos, in->buf.data(), n).ok()) return -1;
  in->pos += n;
  *out = in->buf.data();
  return static_cast<la_ssize_t>(n);
}

la_int64_t ArchiveSeek(struct archive*, void* data, la_int64_t off, int whence) {
  auto* in = static_cast<ArchiveIn*>(data);
  int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? in->pos : in->src->size();
  int64_t to = base + off;
  if (to < 0 || static_cast<uint64_t>(to) > in->src->size()) return ARCHIVE_FATAL;
  in->pos = to;
  return to;
}

// libarchive may have no message (NULL) for an error.
std::string ArchiveError(struct archive* a) {
  const char* m = archive_error_string(a);
  return std::string("archive: ") + (m ? m : "unreadable");
}

void Scan::Archive(const ByteSource& src, const std::string& member, int depth, bool raw) {
  SetFormat(raw ? "compressed" : "archive");
  std::unique_ptr<struct archive, int (*)(struct archive*)> a(archive_read_new(),
                                                              archive_read_free);
  archive_read_support_filter_all(a.get());
  if (raw) {
    archive_read_support_format_raw(a.get());
  } else {
    archive_read_support_format_tar(a.get());
    archive_read_support_format_7zip(a.get());
  }
  ArchiveIn in{&src};
  archive_read_set_read_callback(a.get(), ArchiveRead);
  archive_read_set_seek_callback(a.get(), ArchiveSeek);
  archive_read_set_callback_data(a.get(), &in);
  if (archive_read_open1(a.get()) != ARCHIVE_OK) {
    report_.Unscannable(member, 0, ArchiveError(a.get()));
    return;
  }
  struct archive_entry* e;
  int rc;
  while ((rc = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    const char* pn = archive_entry_pathname(e);
    const std::string name = Join(member, raw ? "(decompressed)" : pn ? pn : "?");
    if (!raw && archive_entry_filetype(e) != AE_IFREG) continue;
    std::string data;
    char block[64 * 1024];
    la_ssize_t n;
    while ((n = archive_read_data(a.get(), block, sizeof(block))) > 0) {
      if (data.size() + n > limits_.member_bytes) break;
      data.append(block, n);
    }
    if (n < 0) {
      report_.Unscannable(name, 0, ArchiveError(a.get()));
      return;
    }
    if (n > 0) {
      report_.Unscannable(name, 0,
                          fmt::format("member larger than {} bytes", limits_.member_bytes));
      continue;
    }
    if (!Budget(data.size(), name)) return;
    BufferSource m(std::move(data));
    bool named = raw || EndsWith(name, ".pkl");
    for (const auto& ext : policy_.extensions()) named |= EndsWith(name, ext);
    Content(m, name, depth + 1, named);
  }
  if (rc != ARCHIVE_EOF) {
    report_.Unscannable(member, 0, ArchiveError(a.get()));
  }
}

void Scan::Zlib(const ByteSource& src, const std::string& member, int depth) {
  SetFormat("compressed");
  auto out = InflateZlib(src, limits_.member_bytes);
  if (!out.ok()) return report_.Unscannable(member, 0, out.status().message());
  if (!Budget(out->size(), member)) return;
  BufferSource m(std::move(out).value());
  Content(m, Join(member, "(decompressed)"), depth + 1, true);
}

}  // namespace

Result<std::string> Sha256Hex(const ByteSource& src) {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  // Fetched once: OpenSSL 3 otherwise looks the algorithm up on every init.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (!ctx || !kSha256 || EVP_DigestInit_ex(ctx.get(), kSha256, nullptr) != 1) {
    return Status::Error("sha256", "OpenSSL digest unavailable");
  }
  // Sized to the file: most models scanned are small, and zero-filling a
  // 1 MiB buffer per file was most of the cost of a pile of small pickles.
  std::string buf(std::min<uint64_t>(src.size(), 1 << 20), '\0');
  for (uint64_t off = 0; off < src.size();) {
    size_t n = std::min<uint64_t>(buf.size(), src.size() - off);
    if (Status s = src.ReadAt(off, buf.data(), n); !s.ok()) return s;
    EVP_DigestUpdate(ctx.get(), buf.data(), n);
    off += n;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  std::string hex;
  for (unsigned i = 0; i < len; i++) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

bool ModelScanner::LooksLikeModel(std::string_view head) {
  Format f = Sniff(head, SIZE_MAX);
  return f != Format::kUnknown && f != Format::kEmpty;
}

ScanReport ModelScanner::ScanFd(int fd, const std::string& path) const {
  ScanReport r;
  r.path = path;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    r.Unscannable("", 0, "not a regular file");
    r.Conclude();
    return r;
  }
  r.size = st.st_size;
  FileSource src(fd, 0, st.st_size);
  auto sha = Sha256Hex(src);
  if (!sha.ok()) {
    r.Unscannable("", 0, sha.status().message());
    r.Conclude();
    return r;
  }
  r.sha256 = *sha;
  Scan scan(*policy_, limits_, r);
  scan.Content(src, "", 0, true);
  if (r.format.empty()) r.format = "unknown";
  r.Conclude();
  if (policy_->Trusted(r.sha256)) {
    r.trusted = true;
    r.verdict = Verdict::kClean;
  }
  return r;
}

ScanReport ModelScanner::ScanPath(const std::string& path) const {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) {
    ScanReport r;
    r.path = path;
    r.Unscannable("", 0, Status::FromErrno("open", errno).message());
    r.Conclude();
    return r;
  }
  return ScanFd(fd.get(), path);
}

}  // namespace nbw
