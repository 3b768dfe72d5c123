//! A bound on open HTTP connections, so memory does not grow with the number of clients.
//!
//! Each connection costs the HTTP server about 30 KB while a request is open on it (its read
//! and write buffers, the request head, the handler's state): 500 clients posting at once took
//! Herald from 19 to 33 MiB. Past `HERALD_MAX_CONNECTIONS` the server stops accepting and new
//! connections wait in the kernel's accept queue, first come first served. So that clients
//! holding keep-alive connections cannot starve the ones waiting there, a response closes its
//! connection (`Connection: close`) while the limit is reached and someone is waiting; the
//! client reconnects and queues behind them.
//!
//! There is no limit unless one is set: the HTTP server times out request heads but not
//! bodies, so a client that sends a head with a `Content-Length` and then nothing holds its
//! place until it goes away, and with a low limit a few such clients would lock everyone out.
//! A limit belongs behind a proxy that buffers whole requests.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::dev::Extensions;

/// Connections the kernel holds for the server beyond the limit (it caps this at
/// `net.core.somaxconn`, 4096 on current Linux). A full queue makes clients retry their
/// handshake after a second or more, so it is sized for thousands of clients.
const ACCEPT_QUEUE: i32 = 4096;

/// The listening socket, with an accept queue long enough for the clients that wait while
/// the limit is reached (the standard library's is 128).
pub fn listen(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // As the standard library does: a restarted server can bind while old connections of
    // the previous one linger in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(ACCEPT_QUEUE)?;
    Ok(socket.into())
}

#[derive(Clone)]
pub struct ConnectionLimit {
    open: Arc<AtomicUsize>,
    limit: usize,
    /// A handle on the listening socket, to ask the kernel whether connections wait.
    listener: Arc<TcpListener>,
}

/// Counts one open connection until the connection and its last request are gone.
struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ConnectionLimit {
    /// `per_worker` connections on each of `workers` HTTP workers (the server's own limit is
    /// per worker); `listener` is a clone of the socket the server accepts on.
    pub fn new(listener: TcpListener, per_worker: usize, workers: usize) -> Self {
        Self {
            open: Arc::new(AtomicUsize::new(0)),
            limit: per_worker.saturating_mul(workers),
            listener: Arc::new(listener),
        }
    }

    /// The server's `on_connect` hook: the connection counts while its data lives.
    pub fn connected(&self, data: &mut Extensions) {
        self.open.fetch_add(1, Ordering::Relaxed);
        data.insert(OpenConnection(self.open.clone()));
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Whether a response should close its connection to make room for a waiting client.
    /// Every response does while clients wait, so they take turns in arrival order: closing
    /// only at the exact limit let the connected clients go on (the count dips below it
    /// while a closed connection is replaced) and the queued ones waited a second. Below half
    /// the limit a queue is a burst of new clients the server is accepting, not starvation.
    pub fn should_close(&self) -> bool {
        self.open().saturating_mul(2) >= self.limit && connections_waiting(&self.listener)
    }
}

/// Whether the kernel holds connections the server has not accepted yet. For a listening
/// socket Linux reports the accept queue's length in `tcpi_unacked` (what `ss -l` shows as
/// Recv-Q).
#[cfg(target_os = "linux")]
fn connections_waiting(listener: &TcpListener) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: `tcp_info` is plain integers, valid when zeroed.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the descriptor is the listener's, open while `listener` lives; `info` and
    // `length` describe a buffer of the right size.
    let status = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut length,
        )
    };
    // If the kernel cannot say, assume someone waits: a needless reconnect is cheap, a
    // starved client is not.
    status != 0 || info.tcpi_unacked > 0
}

/// Elsewhere the queue cannot be read: at the limit, always make room.
#[cfg(not(target_os = "linux"))]
fn connections_waiting(_listener: &TcpListener) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn limit_of(limit: usize) -> (ConnectionLimit, TcpListener) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let clone = listener.try_clone().unwrap();
        (ConnectionLimit::new(clone, limit, 1), listener)
    }

    #[test]
    fn a_connection_counts_until_its_data_is_dropped() {
        let (limit, _listener) = limit_of(4);
        let mut first = Extensions::new();
        let mut second = Extensions::new();
        limit.connected(&mut first);
        limit.connected(&mut second);
        assert_eq!(limit.open(), 2);
        drop(first);
        assert_eq!(limit.open(), 1);
    }

    #[test]
    fn below_half_the_limit_no_response_closes_its_connection() {
        let (limit, listener) = limit_of(4);
        let address = listener.local_addr().unwrap();
        // Someone waits, but the server is accepting: one of four connections is open.
        let _waiting = std::net::TcpStream::connect(address).unwrap();
        let mut one = Extensions::new();
        limit.connected(&mut one);
        assert!(!limit.should_close());
    }

    #[test]
    fn at_the_limit_a_response_closes_only_while_someone_waits() {
        let (limit, listener) = limit_of(1);
        let mut one = Extensions::new();
        limit.connected(&mut one);
        assert!(!limit.should_close(), "nobody waits in the accept queue");
        let _waiting = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        // The handshake completes in the kernel; the queue shows it right after connect.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !limit.should_close() {
            assert!(
                Instant::now() < deadline,
                "the waiting connection was never seen"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let (_accepted, _) = listener.accept().unwrap();
        assert!(!limit.should_close(), "the queue is empty again");
    }
}
