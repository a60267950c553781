//! A fault-injecting HTTP/1.1 proxy on loopback, between phones and the server.
//!
//! Each request is read whole from the phone, then one fault is drawn (seeded, so a run
//! can be repeated): pass it on, drop it before the server sees it, drop the answer after
//! the server processed it, cut the request body short (the server sees a broken upload
//! or sync body), cut the answer short, delay it, or send it to the server twice and
//! answer with the second reply. Every connection carries one request (`Connection:
//! close` both ways) so a cut never leaves a half-used connection in a client's pool.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// How often each fault happens, each a share of requests (the rest pass untouched).
#[derive(Debug, Clone, Copy)]
pub struct FaultMix {
    pub drop_request: f64,
    pub drop_response: f64,
    pub truncate_request: f64,
    pub truncate_response: f64,
    pub duplicate: f64,
    pub delay: f64,
    pub max_delay: Duration,
}

impl FaultMix {
    /// About one request in two meets a fault.
    pub fn harsh() -> FaultMix {
        FaultMix {
            drop_request: 0.08,
            drop_response: 0.10,
            truncate_request: 0.08,
            truncate_response: 0.08,
            duplicate: 0.08,
            delay: 0.08,
            max_delay: Duration::from_millis(40),
        }
    }
}

/// What the proxy did, by fault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub requests: u64,
    pub passed: u64,
    pub dropped_requests: u64,
    pub dropped_responses: u64,
    pub truncated_requests: u64,
    pub truncated_responses: u64,
    pub duplicated: u64,
    pub delayed: u64,
    /// Of the truncated requests, photo uploads (`PUT /v1/blobs/…`) cut mid-body.
    pub truncated_uploads: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Pass,
    DropRequest,
    DropResponse,
    TruncateRequest,
    TruncateResponse,
    Duplicate,
    Delay(Duration),
}

/// splitmix64: a seeded, dependency-free source of draws.
pub struct Draws(u64);

impl Draws {
    pub fn new(seed: u64) -> Draws {
        Draws(seed)
    }

    /// A draw in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Shared {
    mix: FaultMix,
    upstream: SocketAddr,
    draws: Mutex<Draws>,
    counts: Mutex<FaultCounts>,
    enabled: Mutex<bool>,
}

impl Shared {
    fn draw(&self) -> (Fault, f64) {
        let mut draws = self.draws.lock().expect("draws");
        let (roll, cut) = (draws.unit(), draws.unit());
        if !*self.enabled.lock().expect("enabled") {
            return (Fault::Pass, cut);
        }
        let m = &self.mix;
        let table = [
            (m.drop_request, Fault::DropRequest),
            (m.drop_response, Fault::DropResponse),
            (m.truncate_request, Fault::TruncateRequest),
            (m.truncate_response, Fault::TruncateResponse),
            (m.duplicate, Fault::Duplicate),
            (
                m.delay,
                Fault::Delay(m.max_delay.mul_f64(cut.clamp(0.05, 1.0))),
            ),
        ];
        let mut edge = 0.0;
        for (share, fault) in table {
            edge += share;
            if roll < edge {
                return (fault, cut);
            }
        }
        (Fault::Pass, cut)
    }

    fn count(&self, fault: Fault, upload: bool) {
        let mut c = self.counts.lock().expect("counts");
        if upload && fault == Fault::TruncateRequest {
            c.truncated_uploads += 1;
        }
        c.requests += 1;
        match fault {
            Fault::Pass => c.passed += 1,
            Fault::DropRequest => c.dropped_requests += 1,
            Fault::DropResponse => c.dropped_responses += 1,
            Fault::TruncateRequest => c.truncated_requests += 1,
            Fault::TruncateResponse => c.truncated_responses += 1,
            Fault::Duplicate => c.duplicated += 1,
            Fault::Delay(_) => c.delayed += 1,
        }
    }
}

/// The proxy, listening until dropped.
pub struct FaultProxy {
    pub base: String,
    shared: Arc<Shared>,
    rt: Option<Runtime>,
}

impl FaultProxy {
    /// A proxy in front of `upstream` (`http://127.0.0.1:port`), drawing faults from `seed`.
    pub fn start(upstream: &str, mix: FaultMix, seed: u64) -> FaultProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream is http://ip:port");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("proxy binds");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let shared = Arc::new(Shared {
            mix,
            upstream,
            draws: Mutex::new(Draws(seed)),
            counts: Mutex::new(FaultCounts::default()),
            enabled: Mutex::new(true),
        });
        let accept_shared = shared.clone();
        rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let shared = accept_shared.clone();
                tokio::spawn(async move {
                    // A failed connection is one of the faults, or the phone giving up.
                    let _ = serve_one(client, &shared).await;
                });
            }
        });
        FaultProxy {
            base,
            shared,
            rt: Some(rt),
        }
    }

    pub fn counts(&self) -> FaultCounts {
        *self.shared.counts.lock().expect("counts")
    }

    /// Faults on or off (off: every request passes), for the final full sync.
    pub fn set_faults(&self, on: bool) {
        *self.shared.enabled.lock().expect("enabled") = on;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_millis(200));
        }
    }
}

/// An HTTP message split at the end of its headers.
struct Message {
    head: String,
    body: Vec<u8>,
}

impl Message {
    /// The head with `Connection: close` in place of any connection header.
    fn head_closing(&self) -> String {
        let mut lines: Vec<&str> = self
            .head
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .collect();
        lines.push("Connection: close");
        let mut head = lines.join("\r\n");
        head.push_str("\r\n\r\n");
        head
    }

    fn content_length(&self) -> Option<usize> {
        self.head.split("\r\n").find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
    }
}

fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Reads one request: headers, then `Content-Length` bytes of body.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<Message> {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 16384];
    let end = loop {
        if let Some(end) = head_end(&buf) {
            break end;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut message = Message {
        head: String::from_utf8_lossy(&buf[..end]).into_owned(),
        body: buf[end..].to_vec(),
    };
    let want = message.content_length().unwrap_or(0);
    while message.body.len() < want {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        message.body.extend_from_slice(&chunk[..n]);
    }
    Ok(message)
}

/// Sends `request` (its body cut to `body_len`) on a new connection and reads the answer
/// to the end; a cut request closes the connection early and answers nothing.
async fn forward(
    upstream: SocketAddr,
    request: &Message,
    body_len: usize,
) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(request.head_closing().as_bytes()).await?;
    server.write_all(&request.body[..body_len]).await?;
    if body_len < request.body.len() {
        // The phone's connection "died" mid-body: the server reads an early end.
        server.shutdown().await?;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), server.read_to_end(&mut sink)).await;
        return Ok(Vec::new());
    }
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    Ok(answer)
}

/// The server's answer with `Connection: close`, so the phone opens a new connection next.
fn closing_answer(answer: &[u8]) -> Vec<u8> {
    let Some(end) = head_end(answer) else {
        return answer.to_vec();
    };
    let message = Message {
        head: String::from_utf8_lossy(&answer[..end]).into_owned(),
        body: Vec::new(),
    };
    let mut out = message.head_closing().into_bytes();
    out.extend_from_slice(&answer[end..]);
    out
}

async fn serve_one(mut client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let request = read_request(&mut client).await?;
    let (fault, cut) = shared.draw();
    shared.count(fault, request.head.starts_with("PUT /v1/blobs/"));
    let whole = request.body.len();
    let answer = match fault {
        Fault::DropRequest => return Ok(()),
        Fault::TruncateRequest => {
            let keep = ((whole as f64) * cut) as usize;
            forward(shared.upstream, &request, keep.min(whole.saturating_sub(1))).await?;
            return Ok(());
        }
        Fault::Duplicate => {
            forward(shared.upstream, &request, whole).await?;
            forward(shared.upstream, &request, whole).await?
        }
        Fault::Delay(pause) => {
            tokio::time::sleep(pause).await;
            forward(shared.upstream, &request, whole).await?
        }
        Fault::Pass | Fault::DropResponse | Fault::TruncateResponse => {
            forward(shared.upstream, &request, whole).await?
        }
    };
    let answer = closing_answer(&answer);
    match fault {
        Fault::DropResponse => return Ok(()),
        Fault::TruncateResponse => {
            let end = head_end(&answer).unwrap_or(0);
            let body = answer.len() - end;
            let keep = end + ((body as f64) * cut) as usize;
            client
                .write_all(&answer[..keep.min(answer.len().saturating_sub(1))])
                .await?;
        }
        _ => client.write_all(&answer).await?,
    }
    client.shutdown().await?;
    Ok(())
}
