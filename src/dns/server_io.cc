// A worker's DNS sockets: UDP batches (recvmmsg/sendmmsg into buffers allocated once) and TCP connections
// (2-byte length framing, pipelined queries, idle and I/O timeouts, bounded buffers, a per-process cap).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/log.h"
#include "dns/answer.h"
#include "dns/server.h"

namespace bulwark::dns {

namespace {
constexpr int kBatchSize = 32;           // messages per recvmmsg/sendmmsg
constexpr size_t kRxSize = 4096;         // a larger UDP query is dropped (and counted as malformed)
constexpr size_t kTxSize = 4096;         // dns.edns_udp_size is at most 4096
constexpr size_t kCtlSize = 64;          // room for one IP_PKTINFO / IPV6_PKTINFO
constexpr int kMaxBatchesPerEvent = 16;  // then the rest waits one loop iteration (fairness)
constexpr int kCoalesceMin = 2;          // packets in one read that start (or keep) UDP coalescing
constexpr unsigned long kCoalesceSlackNs = 10'000;  // the worker thread's timer slack once it coalesces
constexpr size_t kTcpReadChunk = 4096;
constexpr int kTcpMessagesPerEvent = 256;           // then the connection waits one loop iteration (fairness)
constexpr size_t kOutHighWater = 64 * 1024;         // stop reading queries while this much is unsent
constexpr size_t kMaxOutBytes = 64u * 1024 * 1024;  // an answer backlog that outruns its reader: cut
constexpr size_t kXfrMessagesPerTurn = 64;          // of a streamed transfer, then the next loop iteration
constexpr std::chrono::milliseconds kAcceptRetry{100};

uint64_t steadyNowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch()).count());
}

// A byte queue with amortised growth: compacts before it grows; memory kept until release().
struct ByteQueue {
  std::unique_ptr<uint8_t[]> p;
  size_t cap = 0, start = 0, end = 0;

  size_t size() const noexcept { return end - start; }
  uint8_t* data() noexcept { return p.get() + start; }
  void consume(size_t n) noexcept {
    start += n;
    if (start == end) start = end = 0;
  }
  void reserve(size_t more) {
    if (cap - end >= more) return;
    if (start > 0) {
      std::memmove(p.get(), p.get() + start, size());
      end -= start;
      start = 0;
      if (cap - end >= more) return;
    }
    size_t next = std::max({cap * 2, end + more, size_t{4096}});
    auto np = std::make_unique_for_overwrite<uint8_t[]>(next);
    if (end > 0) std::memcpy(np.get(), p.get(), end);
    p = std::move(np);
    cap = next;
  }
  void append(const uint8_t* d, size_t n) {
    reserve(n);
    std::memcpy(p.get() + end, d, n);
    end += n;
  }
  void release() noexcept {
    p.reset();
    cap = start = end = 0;
  }
};

// One control message as the only one of `tx`.
void putControl(msghdr& tx, uint8_t* ctl, int level, int type, const void* data, size_t len) {
  tx.msg_control = ctl;
  tx.msg_controllen = CMSG_SPACE(len);
  cmsghdr* o = CMSG_FIRSTHDR(&tx);
  o->cmsg_level = level;
  o->cmsg_type = type;
  o->cmsg_len = CMSG_LEN(len);
  std::memcpy(CMSG_DATA(o), data, len);
}

// The reply leaves from the address the query came to (wildcard listen addresses).
void setReplySource(msghdr& rx, uint8_t* ctl, msghdr& tx) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&rx); c != nullptr; c = CMSG_NXTHDR(&rx, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo got{};
      std::memcpy(&got, CMSG_DATA(c), sizeof got);
      in_pktinfo reply{};
      reply.ipi_spec_dst = got.ipi_addr;
      putControl(tx, ctl, IPPROTO_IP, IP_PKTINFO, &reply, sizeof reply);
      return;
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo got{};
      std::memcpy(&got, CMSG_DATA(c), sizeof got);
      putControl(tx, ctl, IPPROTO_IPV6, IPV6_PKTINFO, &got, sizeof got);
      return;
    }
  }
}
}  // namespace

// --- sockets ---------------------------------------------------------------------------------------------

// A UDP socket or a TCP listening socket of one listen address.
class DnsWorker::Socket final : public IoHandler {
 public:
  Socket(DnsWorker& w, int fd, bool udp, bool pktinfo)
      : worker(w), fd(fd), udp(udp), pktinfo(pktinfo), again([this] { onIoEvents(0); }) {}
  ~Socket() override { shut(); }
  void shut() {
    if (fd < 0) return;
    again.cancel();
    worker.loop_.remove(fd);
    ::close(fd);
    fd = -1;
  }
  void onIoEvents(uint32_t) override {
    if (fd < 0) return;
    if (udp) {
      worker.onUdp(*this);
    } else {
      worker.accept(*this);
    }
  }

  DnsWorker& worker;
  int fd;
  bool udp;
  bool pktinfo;          // wildcard address: answer from the address asked (UDP)
  bool holding = false;  // UDP coalescing: out of epoll, read when `again` fires (DnsWorker::afterUdp)
  Timer again;  // UDP: continues a long burst next iteration, or ends a coalescing window; TCP: accept()
                // again after EMFILE
};

struct DnsWorker::Endpoint {
  std::unique_ptr<Socket> udp;
  std::unique_ptr<Socket> tcp;
};

struct DnsWorker::Batch {
  uint8_t rx[kBatchSize][kRxSize];
  uint8_t tx[kBatchSize][kTxSize];
  mmsghdr rxMsgs[kBatchSize];
  mmsghdr txMsgs[kBatchSize];
  iovec rxIov[kBatchSize];
  iovec txIov[kBatchSize];
  sockaddr_storage peers[kBatchSize];
  alignas(cmsghdr) uint8_t rxCtl[kBatchSize][kCtlSize];
  alignas(cmsghdr) uint8_t txCtl[kBatchSize][kCtlSize];
};

// --- TCP connections -------------------------------------------------------------------------------------

class DnsWorker::TcpConn final : public IoHandler {
 public:
  TcpConn(DnsWorker& w, int fd, const sockaddr_storage& peer, socklen_t peerLen)
      : worker(w),
        fd(fd),
        peer(peer),
        peerLen(peerLen),
        timer([this] { worker.closeConn(this, true); }),
        resume([this] {
          pump();
          if (!closed) readMore();
          if (!closed) afterIo();
        }) {
    lastActivity = w.loop_.now();
  }
  ~TcpConn() override = default;

  void onIoEvents(uint32_t events) override {
    if (closed) return;
    if ((events & EPOLLERR) != 0) {
      worker.closeConn(this, false);
      return;
    }
    if ((events & EPOLLOUT) != 0 && out.size() > 0) flush();
    if (!closed) pump();
    if (!closed) readMore();
    if (!closed) afterIo();
  }

  void start() {
    readMore();  // a client may have sent its query with the handshake
    if (!closed) afterIo();
  }

  // Answers the complete messages in the input, then reads until EAGAIN, the peer's FIN, or too much
  // unsent output (reading resumes when the output drains).
  // A client that pipelines without pause gets kTcpMessagesPerEvent answers per loop iteration, so it cannot
  // hold the worker (and the UDP socket beside it) for longer.
  void readMore() {
    budget = kTcpMessagesPerEvent;
    processInput();
    while (!closed && !peerClosed && !axfr && out.size() < kOutHighWater && budget > 0) {
      const size_t want = in.size() >= 2 ? 2 + size_t{readU16(in.data())} : 2;  // the current message
      const size_t need = want > in.size() ? want - in.size() : 0;
      in.reserve(std::max(need, kTcpReadChunk));
      ssize_t r = ::read(fd, in.p.get() + in.end, in.cap - in.end);
      if (r > 0) {
        in.end += static_cast<size_t>(r);
        processInput();
        continue;
      }
      if (r == 0) {
        peerClosed = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) worker.closeConn(this, false);
      break;
    }
    if (!closed && budget == 0) {
      worker.loop_.arm(resume, std::chrono::milliseconds(0));
      return;
    }
    if (!closed && peerClosed && !axfr && out.size() == 0) worker.closeConn(this, false);
  }

  void processInput() {
    while (!closed && !axfr && in.size() >= 2 && out.size() < kOutHighWater && budget > 0) {
      const size_t len = readU16(in.data());
      if (in.size() < 2 + len) break;
      --budget;
      handleMessage(in.data() + 2, len);
      in.consume(2 + len);
      partialSince = {};
      lastActivity = worker.loop_.now();
    }
    if (in.size() == 0 && in.cap > 4 * kTcpReadChunk) in.release();  // a large query passed: give it back
    if (in.size() > 0 && partialSince == SteadyClock::time_point{}) partialSince = worker.loop_.now();
  }

  void flush() {
    while (out.size() > 0) {
      ssize_t r = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r > 0) {
        out.consume(static_cast<size_t>(r));
        lastWrite = worker.loop_.now();
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      worker.closeConn(this, false);
      return;
    }
    if (out.cap > kOutHighWater * 2) out.release();  // after a transfer
  }

  // A streamed transfer (AXFR, or IXFR answered with the whole zone): more messages while the output queue
  // is short, so a zone of any size takes a bounded queue, and at most kXfrMessagesPerTurn per turn, so a
  // fast reader cannot hold the worker (the rest follows in the next loop iteration). Queries pipelined
  // behind the transfer wait until it is complete.
  void pump() {
    if (!axfr || closed) return;
    const MessageSink sink = [this](const uint8_t* msg, size_t n) { return sendFramed(msg, n); };
    for (size_t turn = 0; !closed && axfr && out.size() < kOutHighWater; ++turn) {
      if (turn == kXfrMessagesPerTurn) {
        worker.loop_.arm(resume, std::chrono::milliseconds(0));
        return;
      }
      lastActivity = worker.loop_.now();
      if (!axfr->next(sink, 1)) {  // the connection failed, or a record too large for a message
        endTransfer();
        if (!closed) worker.closeConn(this, false);
        return;
      }
      if (axfr->done()) endTransfer();
    }
  }
  void endTransfer() {
    axfr.reset();
    xfrSnap.reset();
  }

  // One DNS message with its length prefix: sent at once when nothing is queued, the rest queued.
  bool sendFramed(const uint8_t* msg, size_t len) {
    if (closed) return false;
    uint8_t prefix[2];
    writeU16(prefix, static_cast<uint16_t>(len));
    size_t skip = 0;  // bytes of prefix+msg already sent
    if (out.size() == 0) {
      iovec iov[2] = {{prefix, 2}, {const_cast<uint8_t*>(msg), len}};
      msghdr mh{};
      mh.msg_iov = iov;
      mh.msg_iovlen = 2;
      ssize_t r;
      do {
        r = ::sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
      } while (r < 0 && errno == EINTR);
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        worker.closeConn(this, false);
        return false;
      }
      if (r > 0) skip = static_cast<size_t>(r);
      if (skip == len + 2) return true;
      lastWrite = worker.loop_.now();
    }
    if (out.size() + len + 2 - skip > kMaxOutBytes) {
      worker.closeConn(this, false);
      return false;
    }
    if (skip < 2) out.append(prefix + skip, 2 - skip);
    size_t msgSkip = skip > 2 ? skip - 2 : 0;
    out.append(msg + msgSkip, len - msgSkip);
    return true;
  }

  void handleMessage(const uint8_t* pkt, size_t len);
  void transfer(const ParsedQuery& q, const uint8_t* pkt, size_t len);

  // Re-arms the one timer: I/O timeout while an answer is unsent or a query half read, else idle timeout.
  void afterIo() {
    const DnsTcp& t = worker.snap_->config.tcp;
    SteadyClock::time_point deadline;
    if (out.size() > 0) {
      deadline = lastWrite + t.ioTimeout;
    } else if (in.size() > 0) {
      deadline = partialSince + t.ioTimeout;
    } else {
      deadline = lastActivity + t.idleTimeout;
    }
    if (!timer.armed() || timer.deadline() != deadline) worker.loop_.arm(timer, deadline);
  }

  DnsWorker& worker;
  int fd;
  sockaddr_storage peer;
  socklen_t peerLen;
  Timer timer;
  Timer resume;  // continues a long pipeline in the next loop iteration
  int budget = 0;
  ByteQueue in, out;
  SteadyClock::time_point lastActivity, lastWrite, partialSince;
  bool closed = false;
  bool peerClosed = false;
  size_t index = 0;
  std::unique_ptr<AxfrCursor> axfr;            // a transfer being streamed, or null
  std::shared_ptr<const DnsSnapshot> xfrSnap;  // keeps the cursor's zone alive
};

void DnsWorker::TcpConn::handleMessage(const uint8_t* pkt, size_t len) {
  const DnsSnapshot& snap = *worker.snap_;
  const DnsMetrics& m = worker.service_.metrics();
  const unsigned shard = worker.shard_;
  const auto* client = reinterpret_cast<const sockaddr*>(&peer);
  uint8_t* out = worker.tcpScratch_.get();
  constexpr size_t kCap = 65535;
  ParsedQuery q;
  const ParseResult parsed = parseQuery(pkt, len, q);
  if (parsed == ParseResult::Drop) {
    m.malformed->add(shard);
    return;
  }
  size_t n = 0;
  AnswerInfo info;
  if (parsed == ParseResult::FormErr) {
    m.malformed->add(shard);
    n = errorResponse(pkt, len, Rcode::FormErr, out, kCap);
    info.rcode = Rcode::FormErr;
  } else if (q.opcode == kOpcodeNotify && snap.xfr != nullptr) {
    n = snap.xfr->handleNotify(q, pkt, len, client, out, kCap);
    info.rcode = static_cast<Rcode>(n >= 4 ? out[3] & 0xF : 0);
    if (n < 4 || info.rcode != Rcode::NoError) {  // not taken: the core's reply, as NSD gives it
      UdpContext ctx{&snap, &m, shard, 0, static_cast<uint32_t>(::time(nullptr))};
      bool exempt = false;
      n = answerOne(ctx, q, pkt, len, client, /*tcp=*/true, out, kCap, info, exempt);
    }
  } else if (q.opcode == kOpcodeQuery && (q.qtype == kTypeAXFR || q.qtype == kTypeIXFR) &&
             snap.xfr != nullptr) {
    transfer(q, pkt, len);
    return;
  } else {
    UdpContext ctx{&snap, &m, shard, 0, static_cast<uint32_t>(::time(nullptr))};
    bool exempt = false;
    n = answerOne(ctx, q, pkt, len, client, /*tcp=*/true, out, kCap, info, exempt);
  }
  m.queries[parsed == ParseResult::Ok ? DnsMetrics::typeIndex(q.qtype) : 0]
           [DnsMetrics::rcodeIndex(static_cast<uint8_t>(info.rcode))]
               ->add(shard);
  if (n > 0) sendFramed(out, n);
}

// AXFR/IXFR (XfrService): only at the apex of a zone we serve, only to clients in its allow_transfer;
// REFUSED otherwise.
void DnsWorker::TcpConn::transfer(const ParsedQuery& q, const uint8_t* pkt, size_t len) {
  const DnsSnapshot& snap = *worker.snap_;
  const DnsMetrics& m = worker.service_.metrics();
  const unsigned shard = worker.shard_;
  const int type = DnsMetrics::typeIndex(q.qtype);
  const Zone* zone = snap.zones.findExact(q.qname);
  uint8_t* out = worker.tcpScratch_.get();
  XfrService::Result result = XfrService::Result::Refused;
  if (zone != nullptr) {
    MessageSink sink = [this](const uint8_t* msg, size_t n) { return sendFramed(msg, n); };
    result = snap.xfr->handleTransfer(*zone, q, pkt, len, reinterpret_cast<const sockaddr*>(&peer),
                                      /*tcp=*/true, 65535, sink, &axfr);
  }
  Rcode rcode = Rcode::NoError;
  if (result == XfrService::Result::Refused) rcode = Rcode::Refused;
  if (result == XfrService::Result::FormErr) rcode = Rcode::FormErr;
  m.queries[type][DnsMetrics::rcodeIndex(static_cast<uint8_t>(rcode))]->add(shard);
  if (result == XfrService::Result::Sent) m.transfers->add(shard);
  if (axfr) {
    xfrSnap = worker.snap_;
    pump();
    return;
  }
  if (rcode == Rcode::FormErr) {
    size_t n = errorResponse(pkt, len, rcode, out, 65535);
    if (n > 0) sendFramed(out, n);
  } else if (rcode == Rcode::Refused) {
    // Refused (not our apex, or not in allow_transfer): the core's reply, as NSD gives it (NOTAUTH outside
    // our zones; REFUSED with extended error 18 and the OPT kept otherwise).
    UdpContext ctx{&snap, &m, shard, 0, static_cast<uint32_t>(::time(nullptr))};
    AnswerInfo info;
    bool exempt = false;
    const sockaddr* client = reinterpret_cast<const sockaddr*>(&peer);
    size_t n = answerOne(ctx, q, pkt, len, client, /*tcp=*/true, out, 65535, info, exempt);
    if (n > 0) sendFramed(out, n);
  }
}

// --- the worker ------------------------------------------------------------------------------------------

DnsWorker::DnsWorker(DnsService& service, EventLoop& loop, unsigned shard)
    : service_(service),
      loop_(loop),
      shard_(shard),
      batch_(std::make_unique<Batch>()),
      tcpScratch_(std::make_unique<uint8_t[]>(65535)) {}

DnsWorker::~DnsWorker() {
  for (TcpConn* c : conns_) {
    if (!c->closed) {
      loop_.remove(c->fd);
      ::close(c->fd);
      service_.shared_.tcpOpen.fetch_sub(1, std::memory_order_relaxed);
      service_.metrics_.tcpOpen->add(shard_, -1);
    }
    delete c;
  }
  conns_.clear();
  endpoints_.clear();
}

bool DnsWorker::adopt(std::shared_ptr<const DnsSnapshot> snap, std::string& error) {
  bool ok = draining_ || reconcile(*snap, error);
  // Answers cached under the old snapshot are forgotten; a new size takes a new cache (reloads are rare).
  const size_t cacheBytes = size_t{snap->config.answerCacheMb} << 20;
  if (cacheBytes == 0) {
    cache_.reset();
  } else if (!cache_ || cache_->bytes() != cacheBytes) {
    cache_ = std::make_unique<AnswerCache>(cacheBytes);
  } else if (snap != snap_) {
    cache_->clear();
  }
  snap_ = std::move(snap);  // zones and settings are taken even when a new address failed
  return ok;
}

bool DnsWorker::reconcile(const DnsSnapshot& snap, std::string& error) {
  std::map<std::string, std::unique_ptr<Endpoint>> next;
  bool ok = true;
  for (const DnsAddress& a : snap.listen) {
    auto it = endpoints_.find(a.text);
    if (it != endpoints_.end()) {
      next.emplace(a.text, std::move(it->second));
      endpoints_.erase(it);
      continue;
    }
    std::string err;
    int u = openDnsUdpSocket(a, err);
    int t = u < 0 ? -1 : openDnsTcpSocket(a, err);
    if (t < 0) {
      if (u >= 0) ::close(u);
      error = "dns listen " + a.text + ": " + err;
      ok = false;
      continue;
    }
    const auto* sa = reinterpret_cast<const sockaddr*>(&a.addr);
    bool wildcard = sa->sa_family == AF_INET
                        ? reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr == htonl(INADDR_ANY)
                        : IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
    auto ep = std::make_unique<Endpoint>();
    ep->udp = std::make_unique<Socket>(*this, u, /*udp=*/true, wildcard);
    ep->tcp = std::make_unique<Socket>(*this, t, /*udp=*/false, false);
    if (!loop_.add(u, EPOLLIN, ep->udp.get()) || !loop_.add(t, EPOLLIN, ep->tcp.get())) {
      error = "dns listen " + a.text + ": epoll: " + std::strerror(errno);
      ok = false;
      continue;
    }
    next.emplace(a.text, std::move(ep));
  }
  if (!ok) {
    // Keep what was open: a failed reconcile leaves the sockets as they were.
    for (auto& [k, ep] : next) endpoints_.emplace(k, std::move(ep));
    return false;
  }
  retire(std::move(endpoints_));  // addresses no longer configured are closed
  endpoints_ = std::move(next);
  return true;
}

// Sockets leave epoll and close now, but their handler objects live until the end of the loop iteration:
// this runs from a posted function, and the same epoll batch may still hold an event for one of them.
void DnsWorker::retire(std::map<std::string, std::unique_ptr<Endpoint>> gone) {
  if (gone.empty()) return;
  for (auto& [address, ep] : gone) {
    ep->udp->shut();
    ep->tcp->shut();
  }
  auto keep = std::make_shared<std::map<std::string, std::unique_ptr<Endpoint>>>(std::move(gone));
  loop_.defer([keep] {});
}

void DnsWorker::drain() {
  draining_ = true;
  retire(std::move(endpoints_));
  endpoints_.clear();
  std::vector<TcpConn*> all = conns_;
  for (TcpConn* c : all) closeConn(c, false);
}

void DnsWorker::onUdp(Socket& s) {
  Batch& b = *batch_;
  const DnsMetrics& m = service_.metrics();
  int got = 0;  // packets read in this call
  for (int round = 0; round < kMaxBatchesPerEvent; ++round) {
    for (int i = 0; i < kBatchSize; ++i) {
      b.rxIov[i] = {b.rx[i], kRxSize};
      msghdr& h = b.rxMsgs[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &b.peers[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &b.rxIov[i];
      h.msg_iovlen = 1;
      if (s.pktinfo) {
        h.msg_control = b.rxCtl[i];
        h.msg_controllen = kCtlSize;
      }
    }
    int n = ::recvmmsg(s.fd, b.rxMsgs, kBatchSize, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      afterUdp(s, got);  // EAGAIN: drained
      return;
    }
    got += n;
    UdpContext ctx{snap_.get(), &m, shard_, steadyNowNs(), static_cast<uint32_t>(::time(nullptr)),
                   cache_.get()};
    if (cache_) {
      for (int i = 0; i < n; ++i) cache_->prefetchSlot(b.rx[i], b.rxMsgs[i].msg_len);
      for (int i = 0; i < n; ++i) cache_->prefetchRecord(b.rx[i], b.rxMsgs[i].msg_len);
    }
    int out = 0;
    for (int i = 0; i < n; ++i) {
      msghdr& h = b.rxMsgs[i].msg_hdr;
      if ((h.msg_flags & MSG_TRUNC) != 0) {
        m.malformed->add(shard_);
        continue;
      }
      const auto* peer = reinterpret_cast<const sockaddr*>(&b.peers[i]);
      size_t len = handleUdpQuery(ctx, b.rx[i], b.rxMsgs[i].msg_len, peer, h.msg_namelen, b.tx[out], kTxSize);
      if (len == 0) continue;
      b.txIov[out] = {b.tx[out], len};
      msghdr& t = b.txMsgs[out].msg_hdr;
      t = msghdr{};
      t.msg_name = &b.peers[i];
      t.msg_namelen = h.msg_namelen;
      t.msg_iov = &b.txIov[out];
      t.msg_iovlen = 1;
      if (s.pktinfo) setReplySource(h, b.txCtl[out], t);
      ++out;
    }
    int sent = 0;
    while (sent < out) {
      int r = ::sendmmsg(s.fd, b.txMsgs + sent, static_cast<unsigned>(out - sent), MSG_DONTWAIT);
      if (r > 0) {
        sent += r;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        m.udpSendErrors->add(shard_, out - sent);  // the socket buffer is full: these answers are lost
        break;
      }
      m.udpSendErrors->add(shard_);  // this destination was refused (e.g. a spoofed port 0): skip it
      ++sent;
    }
    if (n < kBatchSize) {
      afterUdp(s, got);
      return;
    }
  }
  // Still more queued: carry on in the next loop iteration so other sockets and connections get a turn.
  loop_.arm(s.again, std::chrono::milliseconds(0));
}

// UDP coalescing (docs/dns-server.md): under load a worker that wakes per packet spends more on waking
// (epoll, context switches, the client's wake-ups per answer) than on answering. When a read found at
// least kCoalesceMin packets, the socket leaves epoll and is read again when a `udp_coalesce_us` window
// has passed, so each wake-up answers what arrived meanwhile in one recvmmsg/sendmmsg pair. A window that
// finds fewer puts the socket back in epoll (which reports a packet already waiting), so at low rates every
// query is answered at once.
void DnsWorker::afterUdp(Socket& s, int got) {
  const auto window = std::chrono::microseconds(snap_->config.udpCoalesceUs);
  if (window.count() > 0 && got >= kCoalesceMin) {
    // The window's timer fires within the thread's timer slack (50 µs by default): 10 µs keeps a 100 µs
    // window near 100 µs (set once per worker thread; its other timers only get more punctual).
    static thread_local const bool slackSet = ::prctl(PR_SET_TIMERSLACK, kCoalesceSlackNs) == 0;
    (void)slackSet;
    if (!s.holding && loop_.modify(s.fd, 0, &s)) s.holding = true;
    if (s.holding) {
      loop_.arm(s.again, SteadyClock::now() + window);
      return;
    }
  }
  if (s.holding && loop_.modify(s.fd, EPOLLIN, &s)) s.holding = false;
}

void DnsWorker::accept(Socket& l) {
  const DnsMetrics& m = service_.metrics();
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(l.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        loop_.arm(l.again, kAcceptRetry);  // edge-triggered epoll will not say again: poll until it clears
      }
      return;
    }
    const int64_t open = service_.shared_.tcpOpen.fetch_add(1, std::memory_order_relaxed);
    if (draining_ || open >= static_cast<int64_t>(snap_->config.tcp.maxConnections)) {
      service_.shared_.tcpOpen.fetch_sub(1, std::memory_order_relaxed);
      ::close(fd);
      m.tcpRefused->add(shard_);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    m.tcpAccepted->add(shard_);
    m.tcpOpen->add(shard_, 1);
    auto* c = new TcpConn(*this, fd, peer, len);
    c->index = conns_.size();
    conns_.push_back(c);
    if (!loop_.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, c)) {
      closeConn(c, false);
      continue;
    }
    c->start();
  }
}

void DnsWorker::closeConn(TcpConn* c, bool timedOut) {
  if (c->closed) return;
  c->closed = true;
  c->timer.cancel();
  c->resume.cancel();
  loop_.remove(c->fd);
  ::close(c->fd);
  service_.shared_.tcpOpen.fetch_sub(1, std::memory_order_relaxed);
  const DnsMetrics& m = service_.metrics();
  m.tcpOpen->add(shard_, -1);
  if (timedOut) m.tcpTimeouts->add(shard_);
  size_t i = c->index;
  if (i < conns_.size() && conns_[i] == c) {
    conns_[i] = conns_.back();
    conns_[i]->index = i;
    conns_.pop_back();
  }
  loop_.defer([c] { delete c; });
}

}  // namespace bulwark::dns
