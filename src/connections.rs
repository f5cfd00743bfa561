//! What one client may hold of the node: its connections are capped, idle ones are closed
//! or give way to new ones, and each request carries the client's address.
//!
//! - **Cap with a reserve.** At most `server.max_connections` client connections are open,
//!   and never so many that fewer than `server.fd_reserve` file descriptors stay free for
//!   the node's own files (databases, ledger, sync). At the cap, a new connection takes the
//!   place of the connection that has been idle longest (one with no request in progress);
//!   only when every open connection is working is the new one refused. So sockets held
//!   open by anyone cannot keep a clinician out, and the node never runs out of
//!   descriptors for its ledger.
//! - **Idle timeout.** A connection with no request in progress and no bytes either way
//!   for `server.idle_timeout_secs` is closed (the TLS handshake and HTTP/1 header reading
//!   have their own, shorter timeouts in [`crate::server`]).
//! - **Client address.** The peer's address goes into every request as
//!   `ConnectInfo<SocketAddr>`, which the pages put into every audit entry and the login
//!   backoff keys on. `X-Forwarded-For` is believed only from a peer in
//!   `server.trusted_proxies`.
//! - **File descriptors.** [`raise_fd_limit`] raises the soft limit to the hard limit at
//!   start, so the cap, not a low default limit, is what bounds connections.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

/// The fewest connections the node allows, whatever the descriptor limit.
const MIN_CONNECTIONS: usize = 16;

// ---------------------------------------------------------------- trusted proxies

/// An address or network (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`) of a reverse proxy whose
/// `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet {
    addr: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    /// Whether `ip` is in this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let expected = "expected an IP address or a network like \"10.0.0.5\", \
                        \"10.0.0.0/8\" or \"fd00::/8\"";
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr = IpAddr::from_str(addr.trim())
            .map_err(|_| format!("\"{text}\" is not an address; {expected}"))?
            .to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| {
                    format!("\"{text}\" has a prefix length outside 0–{max}; {expected}")
                })?,
        };
        Ok(ProxyNet { addr, prefix })
    }
}

impl std::fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl serde::Serialize for ProxyNet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ProxyNet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The address a request comes from: the peer's, or, when the peer is a trusted proxy,
/// the nearest address in `X-Forwarded-For` that is not itself a trusted proxy. A header
/// that does not parse is not believed (the peer's address is recorded).
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, trusted: &[ProxyNet]) -> SocketAddr {
    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer.ip()) {
        return peer;
    }
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        for hop in value.split(',') {
            match IpAddr::from_str(hop.trim()) {
                Ok(ip) => hops.push(ip.to_canonical()),
                Err(_) => return peer,
            }
        }
    }
    // Right to left: each trusted proxy vouches for the hop before it.
    let mut client = None;
    for ip in hops.into_iter().rev() {
        client = Some(ip);
        if !is_trusted(ip) {
            break;
        }
    }
    client.map_or(peer, |ip| SocketAddr::new(ip, 0))
}

// ---------------------------------------------------------------- descriptors

/// The process's open-file limits after [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    pub before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft limit on open files to the hard limit (capped at 1,048,576, the
/// kernel's usual ceiling for one process). Distributions start services with a soft limit
/// of 1,024, a few hundred idle sockets from exhaustion; the hard limit is what the
/// administrator allows.
pub fn raise_fd_limit() -> std::io::Result<FdLimit> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    const CEILING: u64 = 1 << 20;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(std::io::Error::from)?;
    let target = hard.min(CEILING).max(soft);
    if target > soft {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard).map_err(std::io::Error::from)?;
    }
    let (now, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(std::io::Error::from)?;
    Ok(FdLimit {
        before: soft,
        soft: now,
        hard,
    })
}

/// The connection cap: `configured`, lowered so that `reserve` descriptors stay free
/// under the soft limit `fd_soft` (never below a small floor).
pub fn effective_cap(configured: usize, fd_soft: u64, reserve: usize) -> usize {
    let room = usize::try_from(fd_soft)
        .unwrap_or(usize::MAX)
        .saturating_sub(reserve);
    configured.min(room).max(MIN_CONNECTIONS)
}

// ---------------------------------------------------------------- the registry

/// The open client connections, for the cap and for evicting the longest idle.
pub struct Connections {
    cap: usize,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
}

/// What is known of one connection: when bytes last moved, how many requests are in
/// progress, and the token that closes it.
pub struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    close: CancellationToken,
}

/// Why [`Connections::admit`] refused.
#[derive(Debug, PartialEq, Eq)]
pub struct Full {
    pub open: usize,
}

impl Connections {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Connections {
            cap,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How many connections are open (admitted and not yet closed or evicted).
    pub fn open(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection. At the cap, the connection idle longest is told to
    /// close and gives its place; when every connection has a request in progress, the
    /// new one is refused.
    pub fn admit(self: &Arc<Self>) -> Result<Slot, Full> {
        let mut open = self.lock();
        if open.len() >= self.cap {
            let idlest = open
                .iter()
                .filter(|(_, a)| a.in_flight.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, a)| a.last_ms.load(Ordering::Relaxed))
                .map(|(id, _)| *id);
            match idlest {
                Some(id) => {
                    if let Some(evicted) = open.remove(&id) {
                        evicted.close.cancel();
                    }
                }
                None => return Err(Full { open: open.len() }),
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            epoch: self.epoch,
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            close: CancellationToken::new(),
        });
        activity.touch();
        open.insert(id, activity.clone());
        Ok(Slot {
            id,
            activity,
            registry: self.clone(),
        })
    }
}

/// One admitted connection; leaves the registry when dropped.
pub struct Slot {
    id: u64,
    pub activity: Arc<Activity>,
    registry: Arc<Connections>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Cancelled when the connection was evicted to make room for a new one.
    pub fn evicted(&self) -> &CancellationToken {
        &self.close
    }

    /// Marks a request in progress until the guard is dropped.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(self.clone())
    }

    /// How long the connection has been idle (zero while a request is in progress).
    pub fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

/// A request in progress on a connection.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Wraps a connection's stream and records when bytes move, for the idle timeout.
pub struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Tracked<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<ProxyNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn proxy_networks_parse_and_match() {
        let net: ProxyNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.1.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one: ProxyNet = "192.0.2.7".parse().unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let v6: ProxyNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let all: ProxyNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        for bad in ["proxy.local", "10.0.0.0/33", "::/129", "10.0.0.0/x", ""] {
            let e = bad.parse::<ProxyNet>().unwrap_err();
            assert!(e.contains("expected an IP address"), "{bad}: {e}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let spoofed = xff(&["203.0.113.9"]);
        // No trusted proxies: the header is ignored.
        assert_eq!(client_address(peer, &spoofed, &[]), peer);
        // A peer outside the list: ignored too.
        assert_eq!(client_address(peer, &spoofed, &nets(&["10.0.0.0/8"])), peer);
        // From a trusted proxy: the nearest untrusted hop.
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        let chain = xff(&["198.51.100.1, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(
            client_address(peer, &chain, &trusted),
            "203.0.113.9:0".parse().unwrap()
        );
        // Without the header, or with garbage in it: the proxy's own address.
        assert_eq!(client_address(peer, &HeaderMap::new(), &trusted), peer);
        assert_eq!(
            client_address(peer, &xff(&["203.0.113.9, evil"]), &trusted),
            peer
        );
        // A mapped IPv6 peer is recorded as IPv4.
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:7".parse().unwrap();
        assert_eq!(
            client_address(mapped, &HeaderMap::new(), &[]),
            "127.0.0.1:7".parse().unwrap()
        );
    }

    #[test]
    fn the_cap_keeps_a_reserve_of_descriptors() {
        assert_eq!(effective_cap(4096, 1024, 256), 768);
        assert_eq!(effective_cap(4096, 100_000, 256), 4096);
        assert_eq!(effective_cap(4096, 100, 256), MIN_CONNECTIONS);
    }

    #[test]
    fn at_the_cap_the_idlest_connection_gives_way_and_busy_ones_do_not() {
        let connections = Connections::new(2);
        let first = connections.admit().unwrap();
        let second = connections.admit().unwrap();
        // The first is working: the second (idle) gives way to a third.
        let _working = first.activity.request();
        let third = connections.admit().unwrap();
        assert!(second.activity.evicted().is_cancelled());
        assert!(!first.activity.evicted().is_cancelled());
        assert_eq!(connections.open(), 2);
        // Both open ones working: a fourth is refused.
        let _also = third.activity.request();
        assert_eq!(connections.admit().err(), Some(Full { open: 2 }));
        drop(second);
        assert_eq!(connections.open(), 2, "an evicted slot was already removed");
    }

    #[test]
    fn raising_the_descriptor_limit_reaches_the_hard_limit() {
        let limit = raise_fd_limit().unwrap();
        assert!(limit.soft >= limit.before);
        assert_eq!(limit.soft, limit.hard.min(1 << 20).max(limit.before));
    }
}
