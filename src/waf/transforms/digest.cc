// md5, sha1: the binary digest (16 and 20 bytes), as v2 returns it; rules usually follow with hexEncode.
#include <openssl/evp.h>

#include <memory>

#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

struct DigestContextFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// The algorithm is fetched once per process (fetching is a provider lookup) and deliberately never freed,
// so no exit-time destructor races OpenSSL's own cleanup. The context is per thread and re-initialised for
// each digest. OpenSSL 3.0 still allocates its small algorithm state on each init; these two
// transformations are not on CRS's per-argument path.
bool computeDigest(const EVP_MD* md, std::string_view in, std::string& out) {
  thread_local std::unique_ptr<EVP_MD_CTX, DigestContextFree> context(EVP_MD_CTX_new());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  const bool ok = md != nullptr && context != nullptr &&
                  EVP_DigestInit_ex2(context.get(), md, nullptr) == 1 &&
                  EVP_DigestUpdate(context.get(), in.data(), in.size()) == 1 &&
                  EVP_DigestFinal_ex(context.get(), digest, &size) == 1;
  // A provider without the algorithm (a FIPS-only configuration lacks MD5) yields an empty result rather
  // than the input, so a rule comparing digests cannot match by accident.
  beginOutput(in, out, 0, ok ? size : 0);
  if (ok) out.append(reinterpret_cast<const char*>(digest), size);
  return out != in;
}

const EVP_MD* md5Algorithm() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return md;
}

const EVP_MD* sha1Algorithm() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  return md;
}

}  // namespace

bool md5(std::string_view in, std::string& out) { return computeDigest(md5Algorithm(), in, out); }

bool sha1(std::string_view in, std::string& out) { return computeDigest(sha1Algorithm(), in, out); }

}  // namespace bulwark::waf::transforms
