// Listening sockets shared by the HTTP and DNS workers.
#pragma once

#include <sys/socket.h>

#include <string>

namespace bulwark {

// A non-blocking, close-on-exec socket of `type` (SOCK_STREAM, SOCK_DGRAM) bound to `sa`, with SO_REUSEADDR,
// SO_REUSEPORT (one socket per worker on the same address) and IPV6_V6ONLY for IPv6. -1 and `error`
// ("socket: ..." or "bind: ...") on failure.
int openBoundSocket(const sockaddr* sa, socklen_t len, int type, std::string& error);

}  // namespace bulwark
