//! Misbehaving receivers for the noisy-neighbour and takeover scenarios, all on 127.0.0.1:
//!
//! - on a bare TCP socket (so nothing hides what the connection does): one that answers late
//!   and counts the requests it holds open, one that resets every connection;
//! - on actix-web: one that records when each delivery (by `webhook-id`) arrives and answers
//!   429 with `Retry-After`, or holds a delivery's first request and answers later ones at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// What a bare-socket receiver does with each request.
#[derive(Debug, Clone, Copy)]
pub enum SocketReply {
    /// Answer 200 after this long, unless the sender gives up first.
    After(Duration),
    /// Read the request, then reset the connection (SO_LINGER 0) without answering.
    Reset,
}

/// What a bare-socket receiver saw.
#[derive(Default)]
pub struct SocketStats {
    pub requests: AtomicU64,
    /// Requests read and neither answered nor abandoned by the sender yet.
    pub open: AtomicU64,
    pub max_open: AtomicU64,
}

impl SocketStats {
    pub fn reset(&self) {
        self.requests.store(0, Ordering::SeqCst);
        self.max_open
            .store(self.open.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// Counts one request as open while it lives.
struct Open<'a>(&'a SocketStats);

impl<'a> Open<'a> {
    fn new(stats: &'a SocketStats) -> Self {
        let now = stats.open.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_open.fetch_max(now, Ordering::SeqCst);
        Self(stats)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The most header lines, body bytes and requests one connection may bring.
const MAX_HEADER_LINES: usize = 200;
const MAX_BODY: usize = 1 << 20;
const MAX_REQUESTS_PER_CONNECTION: usize = 10_000;

/// Starts a bare-socket receiver; returns its URL.
pub async fn start_socket_receiver(
    reply: SocketReply,
    stats: Arc<SocketStats>,
) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    // Serves until the benchmark ends, like the actix receivers.
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, reply, stats.clone()));
                }
                // Out of descriptors, most likely: let some connections end.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    });
    Ok(format!("http://127.0.0.1:{port}/hook"))
}

async fn connection(stream: TcpStream, reply: SocketReply, stats: Arc<SocketStats>) {
    let mut reader = BufReader::new(stream);
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        if !matches!(read_request(&mut reader).await, Ok(true)) {
            return;
        }
        stats.requests.fetch_add(1, Ordering::SeqCst);
        match reply {
            SocketReply::Reset => {
                let stream = reader.into_inner();
                let _ = stream.set_zero_linger();
                drop(stream); // sends RST
                return;
            }
            SocketReply::After(delay) => {
                let open = Open::new(&stats);
                let mut byte = [0u8; 1];
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    // The sender closed the connection (gave up) or broke the exchange.
                    _ = reader.read(&mut byte) => return,
                }
                drop(open);
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                if reader.get_mut().write_all(answer).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads one HTTP/1.1 request (headers and a `Content-Length` body); `false` when the
/// connection ended first.
async fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<bool> {
    let mut line = String::new();
    let mut length = 0usize;
    for number in 0..MAX_HEADER_LINES {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(false);
        }
        let header = line.trim_end();
        if number == 0 {
            continue; // the request line
        }
        if header.is_empty() {
            let mut body = vec![0; length.min(MAX_BODY)];
            reader.read_exact(&mut body).await?;
            return Ok(true);
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    Ok(false)
}

/// What an arrivals receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum ArrivalReply {
    /// 429 with `Retry-After` in seconds, every time.
    TooManyRequests { retry_after_seconds: u64 },
    /// Hold a delivery's first request (until released, at most this long), then 200;
    /// answer its later requests 200 at once.
    HoldFirst { at_most: Duration },
    /// 204 at once, every time.
    Immediate,
}

/// When each delivery (by its `webhook-id` header) reached the receiver.
#[derive(Default)]
pub struct Arrivals {
    seen: Mutex<HashMap<String, Vec<Instant>>>,
    release: Mutex<CancellationToken>,
}

impl Arrivals {
    /// Forgets what was seen and lets held requests go.
    pub fn reset(&self) {
        self.release_held();
        *self.release.lock().unwrap() = CancellationToken::new();
        self.seen.lock().unwrap().clear();
    }

    /// Answers every request held so far.
    pub fn release_held(&self) {
        self.release.lock().unwrap().cancel();
    }

    pub fn requests(&self) -> usize {
        self.seen.lock().unwrap().values().map(Vec::len).sum()
    }

    /// How many deliveries arrived at least `times` times.
    pub fn arrived(&self, times: usize) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.values().filter(|at| at.len() >= times).count()
    }

    /// The `nth` (1-based) arrival of each delivery that arrived that often.
    pub fn nth_arrivals(&self, nth: usize) -> Vec<Instant> {
        let seen = self.seen.lock().unwrap();
        seen.values()
            .filter_map(|at| at.get(nth.checked_sub(1)?).copied())
            .collect()
    }

    /// The quiet spells longer than `longer_than` between consecutive requests (any delivery):
    /// how long the webhook held off after being told to wait.
    pub fn pauses(&self, longer_than: Duration) -> Vec<Duration> {
        let seen = self.seen.lock().unwrap();
        let mut all: Vec<Instant> = seen.values().flatten().copied().collect();
        all.sort();
        all.windows(2)
            .map(|w| w[1].duration_since(w[0]))
            .filter(|gap| *gap > longer_than)
            .collect()
    }

    /// For each delivery, the gaps between its consecutive arrivals.
    pub fn gaps(&self) -> Vec<Vec<Duration>> {
        let seen = self.seen.lock().unwrap();
        seen.values()
            .map(|at| at.windows(2).map(|w| w[1].duration_since(w[0])).collect())
            .collect()
    }

    /// Records an arrival; returns whether it is the delivery's first, and the current
    /// release signal.
    fn record(&self, id: String) -> (bool, CancellationToken) {
        let mut seen = self.seen.lock().unwrap();
        let at = seen.entry(id).or_default();
        at.push(Instant::now());
        (at.len() == 1, self.release.lock().unwrap().clone())
    }
}

/// Starts an arrivals receiver; returns its URL.
pub fn start_arrivals_receiver(
    arrivals: Arc<Arrivals>,
    reply: ArrivalReply,
) -> anyhow::Result<String> {
    let data = web::Data::from(arrivals);
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).default_service(web::to(
            move |request: HttpRequest, arrivals: web::Data<Arrivals>| async move {
                let id = request
                    .headers()
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let (first, release) = arrivals.record(id);
                match reply {
                    ArrivalReply::TooManyRequests {
                        retry_after_seconds,
                    } => HttpResponse::TooManyRequests()
                        .insert_header(("Retry-After", retry_after_seconds.to_string()))
                        .finish(),
                    ArrivalReply::Immediate => HttpResponse::NoContent().finish(),
                    ArrivalReply::HoldFirst { at_most } => {
                        if first {
                            tokio::select! {
                                _ = tokio::time::sleep(at_most) => {}
                                _ = release.cancelled() => {}
                            }
                        }
                        HttpResponse::Ok().finish()
                    }
                }
            },
        ))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")?;
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    Ok(format!("http://127.0.0.1:{port}/hook"))
}
