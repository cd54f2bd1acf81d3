// Zone transfers and NOTIFY on the event loop (docs/dns-transfers.md):
//   * transfers out: AXFR/IXFR queries from allowed clients, answered from the zone and its journal;
//   * NOTIFY out: when a primary zone's serial grows on reload, NOTIFY to its configured secondaries over
//     UDP, resent until they answer (bounded);
//   * secondary zones: SOA query on the refresh timer or on a NOTIFY from the primary, IXFR (or AXFR) over
//     TCP when the primary's serial is newer, the new zone handed to the server; SOA retry/expire honoured.
//
// Threading: an XfrService lives on one EventLoop (its sockets and timers). configure(), onZoneLoaded(),
// handleTransfer(), handleNotify() and expired() may be called from any thread (the workers' query path,
// the reload thread); they take a mutex briefly (never per ordinary query) and post work to the loop. The
// zone callback runs on the service's loop. The service must be destroyed on its loop's thread (or after
// the loop stopped) and must outlive every function it posted to the loop.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_loop.h"
#include "dns/journal.h"
#include "dns/wire.h"
#include "dns/xfr.h"
#include "dns/zone.h"

namespace bulwark::dns {

// "127.0.0.1:53", "[::1]:5300", or a bare address (port 53). False on anything else.
bool parseHostPort(std::string_view text, sockaddr_storage& out);
std::string hostPortToString(const sockaddr_storage& addr);

struct XfrZoneConfig {
  Name origin;
  std::vector<Cidr> allowTransfer;       // AXFR/IXFR clients
  std::vector<sockaddr_storage> notify;  // secondaries to NOTIFY on change
  bool secondary = false;                // pulled from `primary`
  sockaddr_storage primary{};            // for secondary zones; NOTIFY accepted from its address
};

struct XfrServiceOptions {
  std::chrono::milliseconds notifyInterval{1000};  // NOTIFY resend interval
  int notifyAttempts = 5;                          // sends per NOTIFY before giving up
  std::chrono::milliseconds soaTimeout{2000};      // per SOA query datagram
  int soaAttempts = 3;
  std::chrono::milliseconds tcpIdleTimeout{10000};    // connect, or silence while transferring
  std::chrono::milliseconds transferTimeout{300000};  // one whole transfer
  std::chrono::seconds minRefresh{1};                 // floor for SOA refresh/retry
  std::chrono::seconds maxRefresh{86400};
  std::chrono::milliseconds refreshHoldoff{500};  // least time between the starts of two refreshes
  XfrInLimits inLimits{};
  bool keepJournals = true;  // false: no journals here (IXFR then always falls back to AXFR-style)
  size_t journalVersions = 32;
  size_t journalBytes = 64u << 20;
};

class XfrService {
 public:
  // A secondary zone was transferred (zone set) or expired (zone null: answer SERVFAIL for it).
  using ZoneCallback = std::function<void(const Name& origin, std::shared_ptr<const Zone> zone)>;

  XfrService(EventLoop& loop, ZoneCallback onZone, XfrServiceOptions options = {});
  ~XfrService();
  XfrService(const XfrService&) = delete;
  XfrService& operator=(const XfrService&) = delete;

  // Replaces the per-zone settings (initial config and every reload). New secondary zones start pulling at
  // once; secondaries whose primary changed start over; removed ones stop. Zones of the old config keep
  // their journals.
  void configure(std::vector<XfrZoneConfig> zones);

  // A primary zone was loaded (old null at first load). When the serial grew: the difference goes into the
  // zone's journal and NOTIFY is sent to the zone's `notify` list. A lower serial clears the journal.
  void onZoneLoaded(std::shared_ptr<const Zone> oldZone, std::shared_ptr<const Zone> newZone);

  enum class Result { Sent, Refused, FormErr, Aborted };
  // An AXFR or IXFR query for `zone` (the zone the server found for the qname). Refused when the client is
  // not in the zone's allow_transfer (the caller then answers REFUSED); FormErr for an IXFR without a
  // usable SOA in its authority section. Otherwise the messages go to `sink` (several for TCP).
  // `udpSize` is the client's UDP limit (IXFR over UDP only; AXFR over UDP should be refused by the caller).
  // With `stream` (TCP only), a whole-zone reply (AXFR, or IXFR from a serial the journal cannot reach) is
  // not sent: *stream gets a cursor over `zone` for the caller to send as its client reads, and `zone` must
  // outlive it.
  Result handleTransfer(const Zone& zone, const ParsedQuery& q, const uint8_t* pkt, size_t len,
                        const sockaddr* client, bool tcp, size_t udpSize, const MessageSink& sink,
                        std::unique_ptr<AxfrCursor>* stream = nullptr);

  // A NOTIFY (opcode 4) query. For a secondary zone and a sender with the primary's address: NOERROR and a
  // refresh is scheduled; otherwise REFUSED (NOTAUTH when we do not have the zone at all). Writes the
  // response into out and returns its length (0 when it does not fit).
  size_t handleNotify(const ParsedQuery& q, const uint8_t* pkt, size_t len, const sockaddr* from,
                      uint8_t* out, size_t cap);

  // True when `origin` is a secondary zone whose data expired (answer SERVFAIL).
  bool expired(const Name& origin) const;
  // True when `origin` is a configured secondary zone.
  bool isSecondary(const Name& origin) const;

  // Observability (any thread).
  struct Stats {
    uint64_t notifiesSent = 0, notifyAcks = 0, notifiesReceived = 0, notifiesRefused = 0;
    uint64_t transfersOut = 0, transfersRefused = 0;
    uint64_t transfersIn = 0, transferFailures = 0, ixfrIn = 0, axfrIn = 0;
  };
  Stats stats() const;
  // The journal snapshot of a zone (tests).
  std::shared_ptr<const Journal> journal(const Name& origin) const;
  // Refresh a secondary zone now (tests, admin); from any thread.
  void refreshNow(const Name& origin);

 private:
  class Secondary;
  class Notifier;
  struct ZoneState {
    XfrZoneConfig config;
    std::shared_ptr<const Journal> journal;
  };
  std::shared_ptr<const ZoneState> state(const Name& origin) const;
  void applyConfig(std::vector<XfrZoneConfig> zones);  // on the loop
  static std::string key(const Name& n);

  EventLoop& loop_;
  ZoneCallback onZone_;
  XfrServiceOptions options_;
  mutable std::mutex mutex_;  // guards zones_, expired_, stats_
  std::map<std::string, std::shared_ptr<const ZoneState>> zones_;
  std::map<std::string, bool> expired_;
  Stats stats_;
  std::shared_ptr<bool> alive_;
  std::atomic<int> pendingRefreshes_{0};  // posted refreshNow() calls not yet run (bounded: NOTIFY floods)
  // Loop-only state.
  std::map<std::string, std::unique_ptr<Secondary>> secondaries_;
  std::unique_ptr<Notifier> notifier_;

  friend class Secondary;
  friend class Notifier;
};

}  // namespace bulwark::dns
