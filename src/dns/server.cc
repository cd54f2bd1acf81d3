// DnsService (control thread: zones, snapshots, reload), the metrics and the per-packet pipeline.
// The sockets and TCP connections of a worker are in server_io.cc.
#include "dns/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/net.h"
#include "dns/answer.h"
#include "dns/rrl.h"

namespace bulwark::dns {

// --- metrics ---------------------------------------------------------------------------------------------

namespace {
struct TypeLabel {
  uint16_t type;
  const char* name;
};
// Index 0 is "other"; the rest are the types queried often enough to deserve a label.
constexpr TypeLabel kTypeLabels[DnsMetrics::kTypes] = {
    {0, "other"},  {1, "A"},      {2, "NS"},      {5, "CNAME"}, {6, "SOA"},    {12, "PTR"},
    {15, "MX"},    {16, "TXT"},   {28, "AAAA"},   {33, "SRV"},  {35, "NAPTR"}, {39, "DNAME"},
    {43, "DS"},    {44, "SSHFP"}, {48, "DNSKEY"}, {52, "TLSA"}, {64, "SVCB"},  {65, "HTTPS"},
    {251, "IXFR"}, {252, "AXFR"}, {255, "ANY"},   {257, "CAA"}};
constexpr const char* kRcodeLabels[DnsMetrics::kRcodes] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                           "NOTIMP",  "REFUSED", "BADVERS",  "other"};
}  // namespace

int DnsMetrics::typeIndex(uint16_t qtype) noexcept {
  for (int i = 1; i < kTypes; ++i) {
    if (kTypeLabels[i].type == qtype) return i;
  }
  return 0;
}

int DnsMetrics::rcodeIndex(uint8_t rcode) noexcept {
  if (rcode <= 5) return rcode;
  return rcode == 16 ? 6 : 7;
}

const char* DnsMetrics::typeName(int index) noexcept { return kTypeLabels[index].name; }
const char* DnsMetrics::rcodeName(int index) noexcept { return kRcodeLabels[index]; }

DnsMetrics DnsMetrics::create(MetricsRegistry& r) {
  DnsMetrics m;
  for (int t = 0; t < kTypes; ++t) {
    for (int c = 0; c < kRcodes; ++c) {
      m.queries[t][c] =
          r.counter("bulwark_dns_queries_total", "DNS queries answered, by query type and rcode.",
                    std::string("type=\"") + kTypeLabels[t].name + "\",rcode=\"" + kRcodeLabels[c] + "\"");
    }
  }
  m.malformed = r.counter("bulwark_dns_malformed_total",
                          "DNS packets that were not a well-formed query (dropped or answered FORMERR).");
  m.rrlDrops = r.counter("bulwark_dns_rrl_drops_total", "DNS responses withheld by response rate limiting.");
  m.rrlSlips = r.counter("bulwark_dns_rrl_slips_total",
                         "DNS responses sent truncated (TC=1) instead by response rate limiting.");
  m.udpSendErrors = r.counter("bulwark_dns_udp_send_errors_total",
                              "DNS UDP answers the kernel did not take (socket buffer full or error).");
  m.cacheHits = r.counter("bulwark_dns_answer_cache_total",
                          "DNS UDP queries looked up in the answer cache, by result.", "result=\"hit\"");
  m.cacheMisses = r.counter("bulwark_dns_answer_cache_total",
                            "DNS UDP queries looked up in the answer cache, by result.", "result=\"miss\"");
  m.tcpAccepted = r.counter("bulwark_dns_tcp_connections_total", "DNS TCP connections accepted.");
  m.tcpRefused = r.counter("bulwark_dns_tcp_refused_total",
                           "DNS TCP connections closed at once because dns.tcp.max_connections were open.");
  m.tcpTimeouts = r.counter("bulwark_dns_tcp_timeouts_total", "DNS TCP connections closed by a timeout.");
  m.tcpOpen = r.gauge("bulwark_dns_tcp_connections", "DNS TCP connections open.");
  m.notifies = r.counter("bulwark_dns_notify_received_total", "DNS NOTIFY messages accepted.");
  m.transfers = r.counter("bulwark_dns_transfers_total", "AXFR/IXFR transfers served.");
  m.zoneReloadsOk = r.counter("bulwark_dns_zone_reloads_total", "Zone (re)loads by result.", "result=\"ok\"");
  m.zoneReloadsError =
      r.counter("bulwark_dns_zone_reloads_total", "Zone (re)loads by result.", "result=\"error\"");
  return m;
}

// --- addresses and sockets -------------------------------------------------------------------------------

bool toDnsAddress(const SocketAddress& in, DnsAddress& out, std::string& error) {
  out = DnsAddress{};
  out.text = in.text;
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&out.addr);
      ::inet_pton(AF_INET, in.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(in.port);
    out.len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
  if (::inet_pton(AF_INET6, in.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(in.port);
    out.len = sizeof(sockaddr_in6);
    return true;
  }
  error = "'" + in.text + "' is not an IP address and port";
  return false;
}

namespace {
int openSocket(const DnsAddress& a, int type, std::string& error) {
  int fd = openBoundSocket(reinterpret_cast<const sockaddr*>(&a.addr), a.len, type, error);
  if (fd < 0) error = std::string(type == SOCK_DGRAM ? "udp " : "tcp ") + error;
  return fd;
}
}  // namespace

int openDnsUdpSocket(const DnsAddress& a, std::string& error) {
  int fd = openSocket(a, SOCK_DGRAM, error);
  if (fd < 0) return -1;
  // Room for a burst: a flood fills the receive queue, not our memory. Best effort (capped by rmem_max).
  int size = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  // A wildcard address answers from the address the query was sent to (IP_PKTINFO on the reply).
  const auto* sa = reinterpret_cast<const sockaddr*>(&a.addr);
  int one = 1;
  if (sa->sa_family == AF_INET) {
    if (reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr == htonl(INADDR_ANY)) {
      ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    }
  } else if (IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr)) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
  }
  return fd;
}

int openDnsTcpSocket(const DnsAddress& a, std::string& error) {
  int fd = openSocket(a, SOCK_STREAM, error);
  if (fd < 0) return -1;
  if (::listen(fd, 1024) != 0) {
    error = std::string("tcp listen: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

// --- snapshot --------------------------------------------------------------------------------------------

const ZonePolicy* DnsSnapshot::policy(const Name& origin) const noexcept {
  for (const ZonePolicy& p : policies) {
    if (p.origin.equalsNoCase(origin)) return &p;
  }
  return nullptr;
}

// --- the per-packet pipeline -----------------------------------------------------------------------------

namespace {

// RRL's slip: the question alone with TC=1, so a real resolver retries over TCP while a spoofed victim gets
// a packet no larger than the query.
size_t slipResponse(const ParsedQuery& q, uint8_t* out, size_t cap) {
  MessageWriter w(out, cap);
  const uint16_t flags = static_cast<uint16_t>(kFlagQR | kFlagTC | (q.flags & kFlagRD) |
                                               (static_cast<uint16_t>(q.opcode & 0xF) << 11));
  if (!w.putHeader(q.id, flags)) return 0;
  if (!q.qname.empty() && !w.putQuestion(q.qname, q.qtype, q.qclass)) return 0;
  w.setCount(MessageWriter::kQuestion, q.qname.empty() ? 0 : 1);
  return w.size();
}

// RRL's verdict on an answer of `n` bytes in `out`: n (send), a slip response (the question alone with TC=1;
// `q` is parsed from the packet when the caller has not), or 0 (drop).
size_t limit(const UdpContext& ctx, const sockaddr* peer, ResponseClass cls, uint64_t name,
             const uint8_t* pkt, size_t len, const ParsedQuery* q, uint8_t* out, size_t cap, size_t n) {
  const DnsMetrics& m = *ctx.metrics;
  switch (ctx.snap->rrl->decide(peer, cls, name, ctx.nowNs)) {
    case RrlAction::Send:
      return n;
    case RrlAction::Slip: {
      m.rrlSlips->add(ctx.shard);
      ParsedQuery parsed;
      if (q == nullptr) {
        if (parseQuery(pkt, len, parsed) != ParseResult::Ok) return 0;
        q = &parsed;
      }
      return slipResponse(*q, out, cap);
    }
    case RrlAction::Drop:
      m.rrlDrops->add(ctx.shard);
      return 0;
  }
  return n;
}

bool underExpired(const DnsSnapshot& snap, const Name& qname) noexcept {
  for (const Name& origin : snap.expired) {
    if (qname.isSubdomainOf(origin)) return true;
  }
  return false;
}

}  // namespace

size_t answerOne(const UdpContext& ctx, const ParsedQuery& q, const uint8_t* pkt, size_t len,
                 const sockaddr* peer, bool tcp, uint8_t* out, size_t cap, AnswerInfo& info, bool& exempt) {
  const DnsSnapshot& snap = *ctx.snap;
  AnswerOptions opts;
  opts.tcp = tcp;
  opts.ednsUdpSize = static_cast<uint16_t>(snap.config.ednsUdpSize);
  // DNS Cookies (RFC 7873/9018): a valid server cookie is echoed (or refreshed) and exempts the client
  // from RRL; a client cookie alone, or an invalid server cookie, gets a fresh server cookie.
  uint8_t fresh[kServerCookieLen];
  exempt = false;
  if (snap.cookies && q.clientCookie != nullptr) {
    if (q.serverCookie != nullptr) {
      CookieCheck check =
          snap.cookies->validate(q.clientCookie, q.serverCookie, q.serverCookieLen, peer, ctx.nowSeconds);
      if (check.status == CookieStatus::Valid) {
        exempt = true;
        if (!check.refresh) {
          opts.serverCookie = q.serverCookie;
          opts.serverCookieLen = q.serverCookieLen;
        }
      }
    }
    if (opts.serverCookie == nullptr) {
      snap.cookies->generate(q.clientCookie, peer, ctx.nowSeconds, fresh);
      opts.serverCookie = fresh;
      opts.serverCookieLen = kServerCookieLen;
    }
  }
  size_t n = answerQuery(snap.zones, q, pkt, len, opts, out, cap, info);
  if (info.rcode == Rcode::Refused && !snap.expired.empty() && underExpired(snap, q.qname)) {
    n = errorResponse(pkt, len, Rcode::ServFail, out, cap);
    info.rcode = Rcode::ServFail;
    info.cls = ResponseClass::Error;
  }
  return n;
}

size_t handleUdpQuery(const UdpContext& ctx, const uint8_t* pkt, size_t len, const sockaddr* peer,
                      socklen_t peerLen, uint8_t* out, size_t cap) {
  const DnsSnapshot& snap = *ctx.snap;
  const DnsMetrics& m = *ctx.metrics;
  if (ctx.cache != nullptr) {
    AnswerCache::Meta meta;
    if (size_t n = ctx.cache->lookup(pkt, len, out, cap, meta); n != 0) {
      m.cacheHits->add(ctx.shard);
      m.queries[DnsMetrics::typeIndex(meta.qtype)][DnsMetrics::rcodeIndex(meta.rcode)]->add(ctx.shard);
      return snap.rrl ? limit(ctx, peer, static_cast<ResponseClass>(meta.cls), meta.rrlName, pkt, len,
                              nullptr, out, cap, n)
                      : n;
    }
    m.cacheMisses->add(ctx.shard);
  }
  ParsedQuery q;
  const ParseResult parsed = parseQuery(pkt, len, q);
  if (parsed == ParseResult::Drop) {
    m.malformed->add(ctx.shard);
    return 0;
  }
  size_t n = 0;
  AnswerInfo info;
  bool exempt = false;
  if (parsed == ParseResult::FormErr) {
    m.malformed->add(ctx.shard);
    n = errorResponse(pkt, len, Rcode::FormErr, out, cap);
    info.rcode = Rcode::FormErr;
    info.cls = ResponseClass::Error;
  } else if (q.opcode == kOpcodeNotify && snap.xfr != nullptr) {
    // From a configured primary (XfrService checks the address); answered at once, not rate limited.
    n = snap.xfr->handleNotify(q, pkt, len, peer, out, cap);
    if (n < 4 || (out[3] & 0xF) != 0) {
      // Not a NOTIFY we take: answered as NSD answers one (the core's reply: NXDOMAIN/REFUSED, header only).
      n = answerOne(ctx, q, pkt, len, peer, /*tcp=*/false, out, cap, info, exempt);
      m.queries[DnsMetrics::typeIndex(q.qtype)][DnsMetrics::rcodeIndex(static_cast<uint8_t>(info.rcode))]
          ->add(ctx.shard);
      return n;
    }
    m.queries[DnsMetrics::typeIndex(q.qtype)][DnsMetrics::rcodeIndex(0)]->add(ctx.shard);
    return n;
  } else {
    n = answerOne(ctx, q, pkt, len, peer, /*tcp=*/false, out, cap, info, exempt);
  }
  m.queries[parsed == ParseResult::Ok ? DnsMetrics::typeIndex(q.qtype) : 0]
           [DnsMetrics::rcodeIndex(static_cast<uint8_t>(info.rcode))]
               ->add(ctx.shard);
  if (n == 0) return 0;
  const bool ok = parsed == ParseResult::Ok;
  const uint64_t name =
      ok ? rrlNameHashFor(info.cls, q.qname, info.zone != nullptr ? &info.zone->origin() : nullptr) : 0;
  // Cacheable: an ordinary query (not a transfer) whose answer does not depend on who asks (no cookie).
  if (ctx.cache != nullptr && ok && q.opcode == 0 && q.clientCookie == nullptr && q.qtype != kTypeAXFR &&
      q.qtype != kTypeIXFR) {
    ctx.cache->store(
        pkt, len, out, n,
        AnswerCache::Meta{q.qtype, static_cast<uint8_t>(info.rcode), static_cast<uint8_t>(info.cls), name});
  }
  (void)peerLen;
  if (!snap.rrl || exempt) return n;
  return limit(ctx, peer, info.cls, name, pkt, len, ok ? &q : nullptr, out, cap, n);
}

// --- the service -----------------------------------------------------------------------------------------

namespace {
bool sameRrl(const DnsRrl& a, const DnsRrl& b) {
  return a.enabled == b.enabled && a.responsesPerSecond == b.responsesPerSecond && a.window == b.window &&
         a.slip == b.slip && a.ipv4Prefix == b.ipv4Prefix && a.ipv6Prefix == b.ipv6Prefix &&
         a.tableSize == b.tableSize;
}

std::string zoneKey(const Name& origin) { return nameToText(origin.lowered()); }

std::string originText(const std::string& name) { return name == "." ? name : name + "."; }
}  // namespace

DnsService::DnsService(EventLoop& control, MetricsRegistry& metrics)
    : control_(control),
      registry_(metrics),
      metrics_(DnsMetrics::create(metrics)),
      randomSecret_(randomCookieSecret()) {
  xfr_ = std::make_unique<XfrService>(control_, [this](const Name& origin, std::shared_ptr<const Zone> zone) {
    secondaryZone(origin, std::move(zone));
  });
}

DnsService::~DnsService() {
  stop();
  xfr_.reset();
}

void DnsService::exportTransferMetrics() {
  if (!xfr_) return;
  const XfrService::Stats s = xfr_->stats();
  const char* kNotify = "NOTIFY messages: sent to secondaries, acknowledged, received, refused.";
  const char* kXfr = "Zone transfers: out (sent, refused) and in (ixfr, axfr, failed).";
  const ExportedTotal totals[] = {
      {"bulwark_dns_notify_total", kNotify, "event=\"sent\"", s.notifiesSent, xfrSeen_.notifiesSent},
      {"bulwark_dns_notify_total", kNotify, "event=\"acked\"", s.notifyAcks, xfrSeen_.notifyAcks},
      {"bulwark_dns_notify_total", kNotify, "event=\"received\"", s.notifiesReceived,
       xfrSeen_.notifiesReceived},
      {"bulwark_dns_notify_total", kNotify, "event=\"refused\"", s.notifiesRefused, xfrSeen_.notifiesRefused},
      {"bulwark_dns_xfr_total", kXfr, "direction=\"out\",result=\"sent\"", s.transfersOut,
       xfrSeen_.transfersOut},
      {"bulwark_dns_xfr_total", kXfr, "direction=\"out\",result=\"refused\"", s.transfersRefused,
       xfrSeen_.transfersRefused},
      {"bulwark_dns_xfr_total", kXfr, "direction=\"in\",result=\"ixfr\"", s.ixfrIn, xfrSeen_.ixfrIn},
      {"bulwark_dns_xfr_total", kXfr, "direction=\"in\",result=\"axfr\"", s.axfrIn, xfrSeen_.axfrIn},
      {"bulwark_dns_xfr_total", kXfr, "direction=\"in\",result=\"failed\"", s.transferFailures,
       xfrSeen_.transferFailures},
  };
  exportTotals(registry_, totals);
}

std::shared_ptr<const DnsSnapshot> DnsService::prepare(const DnsConfig& cfg, std::string& error) {
  std::map<std::string, LoadedZone> loaded;
  auto snap = build(cfg, loaded, error);
  if (!snap) return nullptr;
  pending_ = std::move(loaded);
  return snap;
}

std::shared_ptr<DnsSnapshot> DnsService::build(const DnsConfig& cfg,
                                               std::map<std::string, LoadedZone>& loaded,
                                               std::string& error) {
  auto snap = std::make_shared<DnsSnapshot>();
  snap->config = cfg;
  snap->generation = generation_ + 1;
  snap->xfr = xfr_.get();
  if (!cfg.enabled) return snap;

  for (const SocketAddress& a : cfg.listen) {
    DnsAddress addr;
    if (!toDnsAddress(a, addr, error)) {
      error = "dns.listen: " + error;
      return nullptr;
    }
    snap->listen.push_back(std::move(addr));
  }

  if (cfg.rrl.enabled) {
    RrlConfig rc;
    rc.responsesPerSecond = cfg.rrl.responsesPerSecond;
    rc.windowSeconds = static_cast<uint32_t>((cfg.rrl.window.count() + 999) / 1000);
    rc.slip = cfg.rrl.slip;
    rc.ipv4Prefix = static_cast<uint8_t>(cfg.rrl.ipv4Prefix);
    rc.ipv6Prefix = static_cast<uint8_t>(cfg.rrl.ipv6Prefix);
    rc.tableSize = static_cast<uint32_t>(cfg.rrl.tableSize);
    std::string bad = validateRrlConfig(rc);
    if (!bad.empty()) {
      error = "dns." + bad;
      return nullptr;
    }
    // The table (and its accounts) survives a reload that leaves the RRL settings alone.
    snap->rrl = rrl_ && sameRrl(rrlConfig_, cfg.rrl) ? rrl_ : std::make_shared<Rrl>(rc);
  }

  if (cfg.cookies.enabled) {
    CookieSecret secret = randomSecret_;
    if (!cfg.cookies.secret.empty() && !parseCookieSecret(cfg.cookies.secret, secret)) {
      error = "dns.cookies.secret: not 32 hex digits";
      return nullptr;
    }
    if (cookies_ && haveCookieSecret_ && secret == cookieSecret_) {
      snap->cookies = cookies_;
    } else if (haveCookieSecret_) {
      // A new secret: cookies made with the old one stay valid until they age out (RFC 9018 §5).
      snap->cookies = std::make_shared<const ServerCookies>(secret, cookieSecret_);
    } else {
      snap->cookies = std::make_shared<const ServerCookies>(secret);
    }
    pendingCookieSecret_ = secret;
    pendingCookies_ = snap->cookies;
  } else {
    pendingCookies_.reset();
  }

  for (const DnsZoneConfig& z : cfg.zones) {
    ZonePolicy p;
    p.name = z.name;
    if (!nameFromText(originText(z.name), p.origin)) {
      error = "zone " + z.name + ": not a valid domain name";
      return nullptr;
    }
    for (const std::string& text : z.allowTransfer) {
      Cidr c;
      if (!parseCidr(text, c)) {
        error = "zone " + z.name + ": allow_transfer: invalid address or CIDR '" + text + "'";
        return nullptr;
      }
      p.allowTransfer.push_back(c);
    }
    for (const SocketAddress& a : z.notify) {
      DnsAddress addr;
      if (!toDnsAddress(a, addr, error)) {
        error = "zone " + z.name + ": notify: " + error;
        return nullptr;
      }
      p.notify.push_back(std::move(addr));
    }
    std::shared_ptr<const Zone> zone;
    if (z.primary) {
      p.secondary = true;
      DnsAddress addr;
      if (!toDnsAddress(*z.primary, addr, error)) {
        error = "zone " + z.name + ": primary: " + error;
        return nullptr;
      }
      p.primary = std::move(addr);
      auto it = secondaries_.find(zoneKey(p.origin));
      if (it != secondaries_.end()) zone = it->second;
      // Not transferred yet, or expired: SERVFAIL for its names (as NSD and Knot answer), not REFUSED.
      if (!zone) snap->expired.push_back(p.origin);
    } else {
      struct stat st {};
      if (::stat(z.file.c_str(), &st) != 0) {
        error = "zone " + z.name + ": " + z.file + ": " + std::strerror(errno);
        return nullptr;
      }
      LoadedZone lz;
      lz.file = z.file;
      lz.dev = st.st_dev;
      lz.ino = st.st_ino;
      lz.size = static_cast<uint64_t>(st.st_size);
      lz.mtimeNs = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      auto old = loaded_.find(z.name);
      if (old != loaded_.end() && old->second.file == lz.file && old->second.dev == lz.dev &&
          old->second.ino == lz.ino && old->second.size == lz.size && old->second.mtimeNs == lz.mtimeNs) {
        lz.zone = old->second.zone;  // unchanged file: keep the compiled zone
      } else {
        ZoneLoad load = loadZoneFile(originText(z.name), z.file);
        if (!load.zone) {
          error = "zone " + z.name + ": " + load.error;
          return nullptr;
        }
        lz.zone = std::move(load.zone);
      }
      zone = lz.zone;
      loaded[z.name] = std::move(lz);
    }
    if (zone) snap->zones.add(zone);
    snap->policies.push_back(std::move(p));
  }
  return snap;
}

bool DnsService::checkListen(const DnsSnapshot& next, std::string& error) const {
  for (const DnsAddress& a : next.listen) {
    bool existing = false;
    if (current_) {
      for (const DnsAddress& o : current_->listen) existing |= o.text == a.text;
    }
    if (existing) continue;
    int u = openDnsUdpSocket(a, error);
    if (u < 0) {
      error = "dns listen " + a.text + ": " + error;
      return false;
    }
    int t = openDnsTcpSocket(a, error);
    ::close(u);
    if (t < 0) {
      error = "dns listen " + a.text + ": " + error;
      return false;
    }
    ::close(t);
  }
  return true;
}

bool DnsService::start(std::shared_ptr<const DnsSnapshot> snap, const std::vector<EventLoop*>& loops,
                       std::string& error) {
  for (unsigned i = 0; i < loops.size(); ++i) {
    workers_.push_back(std::make_unique<DnsWorker>(*this, *loops[i], i));
  }
  for (auto& w : workers_) {
    if (!w->adopt(snap, error)) {
      workers_.clear();
      return false;
    }
  }
  current_ = nullptr;
  commit(std::move(snap), /*post=*/false);
  return true;
}

void DnsService::commit(std::shared_ptr<const DnsSnapshot> snap) { commit(std::move(snap), /*post=*/true); }

void DnsService::commit(std::shared_ptr<const DnsSnapshot> snap, bool post) {
  // Transfers and NOTIFY: the zone settings first, then the primary zones that changed (journal, NOTIFY).
  std::vector<XfrZoneConfig> xcfg;
  for (const ZonePolicy& p : snap->policies) {
    XfrZoneConfig x;
    x.origin = p.origin;
    x.allowTransfer = p.allowTransfer;
    for (const DnsAddress& a : p.notify) x.notify.push_back(a.addr);
    x.secondary = p.secondary;
    if (p.primary) x.primary = p.primary->addr;
    xcfg.push_back(std::move(x));
  }
  xfr_->configure(std::move(xcfg));
  for (const auto& [name, lz] : pending_) {
    auto before = loaded_.find(name);
    std::shared_ptr<const Zone> previous = before == loaded_.end() ? nullptr : before->second.zone;
    if (previous != lz.zone) xfr_->onZoneLoaded(previous, lz.zone);
  }
  loaded_ = std::move(pending_);
  pending_.clear();
  rrl_ = snap->rrl;
  rrlConfig_ = snap->config.rrl;
  cookies_ = pendingCookies_;
  if (cookies_) {
    cookieSecret_ = pendingCookieSecret_;
    haveCookieSecret_ = true;
  }
  generation_ = snap->generation;
  current_ = snap;
  if (post) publish(snap);
}

void DnsService::publish(const std::shared_ptr<const DnsSnapshot>& snap) {
  for (auto& w : workers_) {
    DnsWorker* worker = w.get();
    // The worker's loop runs the adoption; a socket that cannot be opened there is logged (checkListen has
    // already bound every new address once).
    worker->loop().post([worker, snap] {
      std::string err;
      if (!worker->adopt(snap, err)) logError("dns: " + err);
    });
  }
}

void DnsService::countReload(bool ok) {
  (ok ? metrics_.zoneReloadsOk : metrics_.zoneReloadsError)->add(registry_.controlShard());
}

void DnsService::drain() {
  for (auto& w : workers_) {
    DnsWorker* worker = w.get();
    worker->loop().post([worker] { worker->drain(); });
  }
}

void DnsService::stop() { workers_.clear(); }

std::string DnsService::statusJson() const {
  if (!current_ || !current_->config.enabled) return "";
  std::string j = "{\"generation\":" + std::to_string(current_->generation) + ",\"zones\":[";
  bool first = true;
  for (const ZonePolicy& p : current_->policies) {
    const Zone* z = current_->zones.findExact(p.origin);
    j += first ? "" : ",";
    first = false;
    j += "{\"name\":\"" + p.name + "\",\"secondary\":" + (p.secondary ? "true" : "false") +
         ",\"loaded\":" + (z != nullptr ? "true" : "false");
    if (z != nullptr) j += ",\"serial\":" + std::to_string(z->serial());
    j += "}";
  }
  return j + "]}";
}

void DnsService::secondaryZone(const Name& origin, std::shared_ptr<const Zone> zone) {
  const std::string key = zoneKey(origin);
  if (zone) {
    secondaries_[key] = zone;
  } else {
    secondaries_.erase(key);  // expired: its names are answered SERVFAIL until the next transfer
  }
  if (!current_) return;
  auto next = std::make_shared<DnsSnapshot>(*current_);
  next->zones = ZoneSet();
  for (const auto& z : current_->zones.zones()) {
    if (!z->origin().equalsNoCase(origin)) next->zones.add(z);
  }
  if (zone) next->zones.add(zone);
  next->expired.clear();
  for (const ZonePolicy& p : next->policies) {
    if (p.secondary && next->zones.findExact(p.origin) == nullptr) next->expired.push_back(p.origin);
  }
  next->generation = ++generation_;
  current_ = next;
  publish(next);
}

}  // namespace bulwark::dns
