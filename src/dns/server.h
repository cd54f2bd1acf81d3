// The DNS server inside the gateway process (docs/dns-server.md): sockets on the worker event loops, the
// per-packet pipeline, TCP framing, zone loading and reload, metrics.
//
// Threads. DnsService lives on the control thread: it loads zones (blocking file reads, never on a worker),
// builds immutable DnsSnapshots and posts them to the workers, exactly as the HTTP Runtime is published.
// One DnsWorker per worker runs on that worker's EventLoop: one UDP socket (SO_REUSEPORT) and one TCP
// listening socket per listen address, recvmmsg/sendmmsg batches into buffers allocated once, TCP
// connections. The query path takes no lock and allocates nothing; it reads the worker's own snapshot
// pointer, writes its own metric slots and shares only the lock-free RRL table with the other workers.
// (NOTIFY and AXFR/IXFR, which are not ordinary queries, go through XfrService, which takes its mutex
// briefly.)
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/event_loop.h"
#include "core/metrics.h"
#include "dns/answer_cache.h"
#include "dns/cookies.h"
#include "dns/server_secondary.h"
#include "dns/wire.h"
#include "dns/xfr.h"
#include "dns/zone.h"

namespace bulwark::dns {

class Rrl;
class DnsWorker;

// Metric handles, created once (never freed) and shared by every worker; each worker writes its own shard.
struct DnsMetrics {
  // Query types with a label of their own; every other type counts as "other" (bounded label set).
  static constexpr int kTypes = 22;
  static constexpr int kRcodes = 8;  // NOERROR FORMERR SERVFAIL NXDOMAIN NOTIMP REFUSED BADVERS other
  static int typeIndex(uint16_t qtype) noexcept;
  static int rcodeIndex(uint8_t rcode) noexcept;
  static const char* typeName(int index) noexcept;
  static const char* rcodeName(int index) noexcept;

  Counter* queries[kTypes][kRcodes] = {};
  Counter* malformed = nullptr;      // packets that could not be parsed as a query (dropped or FORMERR)
  Counter* rrlDrops = nullptr;       // responses withheld by RRL
  Counter* rrlSlips = nullptr;       // responses sent truncated (TC=1) by RRL
  Counter* udpSendErrors = nullptr;  // answers the kernel would not take (socket buffer full)
  Counter* cacheHits = nullptr;      // UDP queries answered from the worker's answer cache
  Counter* cacheMisses = nullptr;    // UDP queries looked up there and not found
  Counter* tcpAccepted = nullptr;    // bulwark_dns_tcp_connections_total
  Counter* tcpRefused = nullptr;     // closed at once: over dns.tcp.max_connections
  Counter* tcpTimeouts = nullptr;    // closed by the idle or I/O timeout
  Gauge* tcpOpen = nullptr;          // bulwark_dns_tcp_connections
  Counter* notifies = nullptr;       // NOTIFY messages received and accepted
  Counter* transfers = nullptr;      // AXFR/IXFR answered
  Counter* zoneReloadsOk = nullptr;
  Counter* zoneReloadsError = nullptr;

  static DnsMetrics create(MetricsRegistry& registry);
};

struct DnsAddress {
  std::string text;  // as configured
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// Per-zone settings that are not zone data (transfers and NOTIFY are XfrService's, server_secondary.h).
struct ZonePolicy {
  Name origin;
  std::string name;  // as configured (lower case, no final dot)
  bool secondary = false;
  std::vector<Cidr> allowTransfer;
  std::vector<DnsAddress> notify;
  std::optional<DnsAddress> primary;
};

// Everything a worker needs under one configuration and one set of zones. Immutable once built.
struct DnsSnapshot {
  DnsConfig config;
  std::vector<DnsAddress> listen;
  ZoneSet zones;
  std::vector<ZonePolicy> policies;              // one per configured zone, config order
  std::vector<Name> expired;                     // secondary zones whose data expired: answered SERVFAIL
  std::shared_ptr<Rrl> rrl;                      // shared by every worker (lock-free); null when RRL is off
  std::shared_ptr<const ServerCookies> cookies;  // null when cookies are off
  XfrService* xfr = nullptr;                     // AXFR/IXFR out and NOTIFY in; owned by DnsService
  uint64_t generation = 0;

  // The policy of the zone with exactly this origin, or nullptr.
  const ZonePolicy* policy(const Name& origin) const noexcept;
};

// Counts that DnsService keeps across snapshots and workers (the TCP cap is per process).
struct DnsShared {
  std::atomic<int64_t> tcpOpen{0};
};

class DnsService {
 public:
  DnsService(EventLoop& control, MetricsRegistry& metrics);
  ~DnsService();
  DnsService(const DnsService&) = delete;
  DnsService& operator=(const DnsService&) = delete;

  // Control thread: loads every zone of `cfg` (zone files whose path, size and mtime are unchanged since the
  // last load are reused) and builds a snapshot. Nothing changes until commit(). nullptr and `error`
  // ("zone example.com: /etc/z/example.com.zone:12: message") when a zone or setting is refused.
  std::shared_ptr<const DnsSnapshot> prepare(const DnsConfig& cfg, std::string& error);
  // Checks that addresses the snapshot adds (not in the one serving) can be bound, UDP and TCP.
  bool checkListen(const DnsSnapshot& next, std::string& error) const;

  // Start-up: one DnsWorker per worker loop (shard i = worker i), sockets opened here so a bind error stops
  // the start. Call before the worker threads run; then as commit().
  bool start(std::shared_ptr<const DnsSnapshot> snap, const std::vector<EventLoop*>& loops,
             std::string& error);
  // Publishes a prepared snapshot to every worker (their sockets are reconciled); tells XfrService about
  // the zone settings and the zones that changed (journal for IXFR, NOTIFY to secondaries).
  void commit(std::shared_ptr<const DnsSnapshot> snap);
  // Counts a zone (re)load outcome in bulwark_dns_zone_reloads_total.
  void countReload(bool ok);
  // SIGTERM: workers close their DNS sockets and connections.
  void drain();
  // After the worker threads have been joined.
  void stop();

  // A secondary zone was transferred (zone set) or expired (zone null): every worker gets the new set.
  // Control thread (XfrService's zone callback).
  void secondaryZone(const Name& origin, std::shared_ptr<const Zone> zone);
  const std::shared_ptr<const DnsSnapshot>& current() const noexcept { return current_; }
  const DnsMetrics& metrics() const noexcept { return metrics_; }
  XfrService& xfr() noexcept { return *xfr_; }
  // For the admin API's /status: {"generation":N,"zones":[{"name":..,"serial":..,"secondary":..,
  // "loaded":..}]}; "" when DNS is off.
  std::string statusJson() const;
  // Control thread, once a second: XfrService's running totals (NOTIFY, transfers in and out) turned into
  // counter increments (bulwark_dns_notify_total{event}, bulwark_dns_xfr_total{direction,result}).
  void exportTransferMetrics();

 private:
  struct LoadedZone {
    std::string file;
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtimeNs = 0;
    std::shared_ptr<const Zone> zone;
  };
  void commit(std::shared_ptr<const DnsSnapshot> snap, bool post);
  void publish(const std::shared_ptr<const DnsSnapshot>& snap);
  std::shared_ptr<DnsSnapshot> build(const DnsConfig& cfg, std::map<std::string, LoadedZone>& loaded,
                                     std::string& error);

  EventLoop& control_;
  MetricsRegistry& registry_;
  DnsMetrics metrics_;
  DnsShared shared_;
  std::vector<std::unique_ptr<DnsWorker>> workers_;
  std::shared_ptr<const DnsSnapshot> current_;
  std::map<std::string, LoadedZone> loaded_;                        // primary zones as last committed
  std::map<std::string, LoadedZone> pending_;                       // as loaded by the last prepare()
  std::map<std::string, std::shared_ptr<const Zone>> secondaries_;  // transferred zones, by name
  std::shared_ptr<Rrl> rrl_;
  DnsRrl rrlConfig_;
  std::shared_ptr<const ServerCookies> cookies_;
  CookieSecret cookieSecret_{};  // the secret in use (for rollover to a new configured one)
  bool haveCookieSecret_ = false;
  std::shared_ptr<const ServerCookies> pendingCookies_;
  CookieSecret pendingCookieSecret_{};
  CookieSecret randomSecret_{};  // used when dns.cookies.secret is not set
  uint64_t generation_ = 0;
  std::unique_ptr<XfrService> xfr_;
  XfrService::Stats xfrSeen_;  // totals already exported as counter increments
  friend class DnsWorker;
};

// The DNS side of one worker: its sockets and TCP connections, on the worker's EventLoop. Everything but the
// constructor and the destructor runs on the loop's thread (or before that thread starts).
class DnsWorker {
 public:
  DnsWorker(DnsService& service, EventLoop& loop, unsigned shard);
  ~DnsWorker();
  DnsWorker(const DnsWorker&) = delete;
  DnsWorker& operator=(const DnsWorker&) = delete;

  // Adopts a snapshot: sockets for new addresses opened, removed ones closed, kept ones untouched. False and
  // `error` when a socket cannot be opened (the worker then keeps its old sockets and the new snapshot).
  bool adopt(std::shared_ptr<const DnsSnapshot> snap, std::string& error);
  void drain();
  std::size_t tcpConnections() const noexcept { return conns_.size(); }
  EventLoop& loop() noexcept { return loop_; }

 private:
  class Socket;
  class TcpConn;
  struct Endpoint;
  void onUdp(Socket& s);
  void afterUdp(Socket& s, int got);
  void accept(Socket& l);
  void closeConn(TcpConn* c, bool timedOut);
  bool reconcile(const DnsSnapshot& snap, std::string& error);
  void retire(std::map<std::string, std::unique_ptr<Endpoint>> gone);

  DnsService& service_;
  EventLoop& loop_;
  unsigned shard_;
  bool draining_ = false;
  std::shared_ptr<const DnsSnapshot> snap_;
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints_;  // by listen address text
  std::vector<TcpConn*> conns_;
  // UDP batch state, allocated once per worker.
  struct Batch;
  std::unique_ptr<Batch> batch_;
  std::unique_ptr<uint8_t[]> tcpScratch_;  // one TCP answer: 2-byte length + 65535
  std::unique_ptr<AnswerCache> cache_;     // UDP answers under snap_ (dns.answer_cache_mb); null when off
  friend class TcpConn;
};

// Opens a UDP socket (non-blocking, SO_REUSEPORT, IPV6_V6ONLY for v6, larger buffers) or a TCP listening
// socket bound to `a`. -1 and `error` on failure.
int openDnsUdpSocket(const DnsAddress& a, std::string& error);
int openDnsTcpSocket(const DnsAddress& a, std::string& error);
// "127.0.0.1:53" / "[::1]:53" (numeric only) -> sockaddr.
bool toDnsAddress(const SocketAddress& in, DnsAddress& out, std::string& error);

// The per-packet pipeline, exposed for unit tests: answers one UDP query in `pkt` from `peer` into `out`
// (capacity `cap`, at least 4096). Returns the response length, 0 when nothing is to be sent.
struct UdpContext {
  const DnsSnapshot* snap;
  const DnsMetrics* metrics;
  unsigned shard;
  uint64_t nowNs;                // steady clock (RRL)
  uint32_t nowSeconds;           // Unix time (cookie timestamps)
  AnswerCache* cache = nullptr;  // the worker's answer cache, or nullptr when it is off
};
// The answer part shared by UDP and TCP (cookies, answerQuery, SERVFAIL for expired secondaries). `exempt`:
// the client presented a valid server cookie (no RRL).
struct AnswerInfo;
size_t answerOne(const UdpContext& ctx, const ParsedQuery& q, const uint8_t* pkt, size_t len,
                 const sockaddr* peer, bool tcp, uint8_t* out, size_t cap, AnswerInfo& info, bool& exempt);
size_t handleUdpQuery(const UdpContext& ctx, const uint8_t* pkt, size_t len, const sockaddr* peer,
                      socklen_t peerLen, uint8_t* out, size_t cap);

}  // namespace bulwark::dns
