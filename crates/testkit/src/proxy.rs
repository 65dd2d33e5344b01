//! A small HTTP proxy in front of a real registry: it records every request (so tests can count HEADs
//! and GETs) and can misbehave on purpose — answer 500, 503 or 429 with `Retry-After`, cut a
//! connection before answering or in the middle of a body, serve a body short, or corrupt a blob —
//! to show what baseimg does when upstream is unreliable. Faults are chosen by rule (every n-th
//! request, the first n GETs of a path) or drawn from a seed, per request path, so a run with the
//! same seed meets the same faults whatever order concurrent requests arrive in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::{Request, Response};

type Body = BoxBody<Bytes, std::io::Error>;

/// Which requests misbehave: the n-th request (counting from 1) fails when `n % every == phase`.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub server_error_every: Option<u64>,
    pub too_many_requests_every: Option<u64>,
    /// Cuts the connection: before answering, or in the middle of a blob body.
    pub reset_every: Option<u64>,
    /// Flips a byte of this blob whenever it is served.
    pub corrupt_blob: Option<String>,
    /// Sends `RateLimit-Limit`/`RateLimit-Remaining` like Docker Hub.
    pub rate_limit_remaining: Option<u64>,
    /// Plays Docker Hub's token authentication: every registry request needs `Bearer <token>`,
    /// obtained from `/token` on the proxy itself (anonymously, as for public images).
    pub bearer_token: Option<String>,
    /// Holds every manifest PUT to a tag without a `-` (a moving tag like `1.0`, not an immutable
    /// `1.0-<fingerprint>`) this long: a promotion then takes long enough to be cut off half-way.
    pub delay_moving_tag_puts: Option<std::time::Duration>,
    /// Cuts the connection half-way through the body of the first GETs of a path (the length was
    /// announced, so the client sees the body break off).
    pub drop_body: Option<Targeted>,
    /// Serves the first GETs of a path short: half the body, no `Content-Length`, and a clean end, so
    /// only the size the client expected shows that bytes are missing.
    pub truncate_body: Option<Targeted>,
    /// Faults drawn at random for every request, from a seed.
    pub random: Option<RandomFaults>,
}

/// The first `times` GETs whose path and query contain `path`.
#[derive(Debug, Clone)]
pub struct Targeted {
    pub path: String,
    pub times: u64,
}

impl Targeted {
    pub fn new(path: impl Into<String>, times: u64) -> Targeted {
        Targeted {
            path: path.into(),
            times,
        }
    }
}

/// The share of requests (0 to 1) that meet each fault. Each request draws one number from the seed,
/// its method and path and how many times that method and path were asked before, so the same seed
/// gives every request the same fate in every run.
#[derive(Debug, Clone, Default)]
pub struct RandomFaults {
    pub seed: u64,
    /// 500 Internal Server Error.
    pub server_error: f64,
    /// 503 Service Unavailable.
    pub unavailable: f64,
    /// 429 Too Many Requests with `Retry-After: 1`.
    pub too_many_requests: f64,
    /// A GET's body cut half-way (any GET with a body: manifests, blobs, tag lists, tokens).
    pub drop_body: f64,
    /// A blob GET's body served short, ended cleanly.
    pub truncate_blob: f64,
}

impl RandomFaults {
    /// The mix of the fault soak: 8 % 500s, 8 % 503s, 6 % 429s, 10 % bodies cut, 6 % blobs short.
    pub fn soak(seed: u64) -> RandomFaults {
        RandomFaults {
            seed,
            server_error: 0.08,
            unavailable: 0.08,
            too_many_requests: 0.06,
            drop_body: 0.10,
            truncate_blob: 0.06,
        }
    }

    /// The fate of one request: a number in [0, 1) from the seed, the request and its occurrence.
    fn draw(&self, key: &str, occurrence: u64) -> Fate {
        use sha2::Digest as _;
        let hash = sha2::Sha256::new()
            .chain_update(self.seed.to_le_bytes())
            .chain_update(key.as_bytes())
            .chain_update(occurrence.to_le_bytes())
            .finalize();
        let x = u64::from_le_bytes(hash[..8].try_into().unwrap()) as f64 / (u64::MAX as f64 + 1.0);
        let mut bound = 0.0;
        for (share, fate) in [
            (self.server_error, Fate::Status(500)),
            (self.unavailable, Fate::Status(503)),
            (self.too_many_requests, Fate::Status(429)),
            (self.drop_body, Fate::DropBody),
            (self.truncate_blob, Fate::TruncateBlob),
        ] {
            bound += share;
            if x < bound {
                return fate;
            }
        }
        Fate::Fine
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Fine,
    Status(u16),
    DropBody,
    TruncateBlob,
}

/// What the proxy counts while it runs: every request, and how often each method and path came.
#[derive(Default)]
struct Seen {
    counter: AtomicU64,
    /// Bytes of blob upload bodies (`PATCH`/`PUT` under `/blobs/uploads/`) passed on to the registry.
    uploaded: AtomicU64,
    occurrences: Mutex<HashMap<String, u64>>,
}

impl Seen {
    /// How many times this key came before (0 the first time).
    fn occurrence(&self, key: &str) -> u64 {
        let mut occurrences = self.occurrences.lock().unwrap();
        let count = occurrences.entry(key.to_string()).or_default();
        *count += 1;
        *count - 1
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub method: String,
    pub path: String,
}

pub struct Proxy {
    pub host: String,
    pub log: Arc<Mutex<Vec<Logged>>>,
    pub faults: Arc<Mutex<Faults>>,
    seen: Arc<Seen>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(target: &str) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let log: Arc<Mutex<Vec<Logged>>> = Arc::default();
        let faults: Arc<Mutex<Faults>> = Arc::default();
        let seen: Arc<Seen> = Arc::default();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let target = format!("http://{target}");
        let (log_in, faults_in, seen_in) = (log.clone(), faults.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let client = reqwest::Client::new();
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let (client, target, log, faults, seen) =
                                (client.clone(), target.clone(), log_in.clone(), faults_in.clone(), seen_in.clone());
                            tokio::spawn(async move {
                                let service = hyper::service::service_fn(move |request| {
                                    handle(request, client.clone(), target.clone(), log.clone(), faults.clone(), seen.clone())
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        Proxy {
            host: addr.to_string(),
            log,
            faults,
            seen,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Replaces the faults; the counts of the targeted and random faults start afresh.
    pub fn set_faults(&self, faults: Faults) {
        let mut current = self.faults.lock().unwrap();
        self.seen.occurrences.lock().unwrap().clear();
        *current = faults;
    }

    pub fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }

    /// Requests for manifests with this method (`HEAD`, `GET`).
    pub fn manifest_requests(&self, method: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path.contains("/manifests/"))
            .count()
    }

    /// How many bytes of blob uploads went through to the registry: what a client made cross the wire.
    pub fn uploaded_bytes(&self) -> u64 {
        self.seen.uploaded.load(Ordering::SeqCst)
    }

    /// Requests with this method whose path contains `part` (a digest, `/tags/list`, `/token`).
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path.contains(part))
            .count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn full(status: u16, text: &'static str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    response
}

/// An injected error status, in the registry's words; a 429 says when to come back.
fn injected(status: u16) -> Response<Body> {
    match status {
        429 => {
            let mut response = full(
                429,
                "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"injected rate limit\"}]}",
            );
            response
                .headers_mut()
                .insert("retry-after", "1".parse().unwrap());
            response
        }
        503 => full(
            503,
            "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"injected unavailability\"}]}",
        ),
        _ => full(
            status,
            "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"injected failure\"}]}",
        ),
    }
}

/// What happens to a response body on its way through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Whole,
    /// The connection is cut after this many bytes.
    CutAfter(u64),
    /// The body ends, cleanly, after this many bytes.
    ShortAt(u64),
}

/// Passes `chunks` on as `ending` says.
fn ended<S>(chunks: S, ending: Ending) -> impl futures_util::Stream<Item = std::io::Result<Bytes>>
where
    S: futures_util::Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    let (limit, cut) = match ending {
        Ending::Whole => (u64::MAX, false),
        Ending::CutAfter(limit) => (limit, true),
        Ending::ShortAt(limit) => (limit, false),
    };
    stream::unfold(
        (chunks, 0u64, false),
        move |(mut chunks, sent, done)| async move {
            if done {
                return None;
            }
            if sent >= limit {
                if !cut {
                    return None;
                }
                // Let the server flush the head and the bytes so far: the cut must fall in the
                // body, not before the response.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let error =
                    std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected cut");
                return Some((Err(error), (chunks, sent, true)));
            }
            match chunks.next().await {
                None => None,
                Some(Err(error)) => Some((Err(error), (chunks, sent, true))),
                Some(Ok(chunk)) => {
                    let room = usize::try_from(limit - sent).unwrap_or(usize::MAX);
                    let chunk = if chunk.len() > room {
                        chunk.slice(..room)
                    } else {
                        chunk
                    };
                    let sent = sent + chunk.len() as u64;
                    Some((Ok(chunk), (chunks, sent, false)))
                }
            }
        },
    )
}

/// Whether a targeted fault applies to this GET, counting it when it does.
fn targeted(seen: &Seen, fault: &Option<Targeted>, kind: &str, path_and_query: &str) -> bool {
    fault.as_ref().is_some_and(|fault| {
        path_and_query.contains(fault.path.as_str())
            && seen.occurrence(&format!("{kind} {}", fault.path)) < fault.times
    })
}

async fn handle(
    request: Request<hyper::body::Incoming>,
    client: reqwest::Client,
    target: String,
    log: Arc<Mutex<Vec<Logged>>>,
    faults: Arc<Mutex<Faults>>,
    seen: Arc<Seen>,
) -> Result<Response<Body>, std::io::Error> {
    let method = request.method().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    log.lock().unwrap().push(Logged {
        method: method.to_string(),
        path: request.uri().path().to_string(),
    });
    let n = seen.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let faults = faults.lock().unwrap().clone();
    if let Some(delay) = faults.delay_moving_tag_puts {
        let path = request.uri().path();
        let moving_tag = path
            .rsplit_once("/manifests/")
            .is_some_and(|(_, reference)| !reference.contains('-') && !reference.contains(':'));
        if method == hyper::Method::PUT && moving_tag {
            tokio::time::sleep(delay).await;
        }
    }
    let key = format!("{method} {path_and_query}");
    let fate = match &faults.random {
        Some(random) => random.draw(&key, seen.occurrence(&key)),
        None => Fate::Fine,
    };
    let is_get = method == hyper::Method::GET;
    let is_blob_get = is_get && request.uri().path().contains("/blobs/");
    // How a successful GET's body of `length` bytes ends: cut or short, by rule or by fate.
    let ending = |length: Option<u64>, blob: bool| {
        let half = length.unwrap_or(2) / 2;
        if targeted(&seen, &faults.drop_body, "drop", &path_and_query) || fate == Fate::DropBody {
            Ending::CutAfter(half)
        } else if targeted(&seen, &faults.truncate_body, "truncate", &path_and_query)
            || (blob && fate == Fate::TruncateBlob)
        {
            Ending::ShortAt(half)
        } else {
            Ending::Whole
        }
    };
    if let Some(token) = &faults.bearer_token {
        if request.uri().path() == "/token" {
            if let Fate::Status(status) = fate {
                return Ok(injected(status));
            }
            let scope_ok = path_and_query.contains("scope=repository%3A")
                || path_and_query.contains("scope=repository:");
            if !scope_ok {
                return Ok(full(400, "missing scope"));
            }
            let body = Bytes::from(format!("{{\"token\":\"{token}\",\"expires_in\":300}}"));
            let length = body.len() as u64;
            let chunks = stream::iter([Ok::<_, std::io::Error>(body)]);
            let body = ended(chunks, ending(Some(length), false)).map_ok(Frame::data);
            let response = Response::builder()
                .header("content-type", "application/json")
                .header("content-length", length)
                .body(BodyExt::boxed(StreamBody::new(body)))
                .unwrap();
            return Ok(response);
        }
        let expected = format!("Bearer {token}");
        let authorized = request
            .headers()
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap_or("") == expected);
        if !authorized {
            let host = request
                .headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_string();
            let mut response = full(
                401,
                "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}",
            );
            response.headers_mut().insert(
                "www-authenticate",
                format!("Bearer realm=\"http://{host}/token\",service=\"test-registry\"")
                    .parse()
                    .unwrap(),
            );
            return Ok(response);
        }
    }
    let hit = |every: Option<u64>, phase: u64| every.is_some_and(|e| n % e == phase % e);
    if hit(faults.server_error_every, 1) {
        return Ok(injected(500));
    }
    if hit(faults.too_many_requests_every, 2) {
        return Ok(injected(429));
    }
    if let Fate::Status(status) = fate {
        return Ok(injected(status));
    }
    let reset = hit(faults.reset_every, 3);
    if reset && !is_blob_get {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected reset",
        ));
    }

    let mut forward = client.request(method.clone(), format!("{target}{path_and_query}"));
    for (name, value) in request.headers() {
        if name == hyper::header::HOST {
            // The registry builds upload locations from this: they must lead back through the
            // proxy, or uploads would bypass it.
            forward = forward.header("x-forwarded-host", value);
        } else {
            forward = forward.header(name, value);
        }
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if (method == hyper::Method::PATCH || method == hyper::Method::PUT)
        && path_and_query.contains("/blobs/uploads/")
    {
        seen.uploaded.fetch_add(body.len() as u64, Ordering::SeqCst);
    }
    let upstream = match forward.body(body).send().await {
        Ok(response) => response,
        Err(_) => return Ok(full(502, "bad gateway")),
    };
    let ending = if is_get && upstream.status().is_success() {
        ending(upstream.content_length(), is_blob_get)
    } else {
        Ending::Whole
    };
    let mut response = Response::builder().status(upstream.status().as_u16());
    for (name, value) in upstream.headers() {
        // A body served short announces no length: the client only knows what it expected.
        if matches!(ending, Ending::ShortAt(_)) && name == hyper::header::CONTENT_LENGTH {
            continue;
        }
        response = response.header(name, value);
    }
    if let Some(remaining) = faults.rate_limit_remaining {
        response = response
            .header("ratelimit-limit", "100;w=21600")
            .header("ratelimit-remaining", format!("{remaining};w=21600"));
    }
    let corrupt = is_blob_get
        && faults
            .corrupt_blob
            .as_ref()
            .is_some_and(|d| path_and_query.contains(d.as_str()));
    let mut first = true;
    let chunks = upstream.bytes_stream().map(move |chunk| {
        let mut chunk = chunk.map_err(std::io::Error::other)?;
        if corrupt && first && !chunk.is_empty() {
            let mut bytes = chunk.to_vec();
            bytes[0] ^= 0xff;
            chunk = Bytes::from(bytes);
        }
        first = false;
        Ok::<_, std::io::Error>(chunk)
    });
    let body: Body = if reset {
        // Serve a little, then cut the connection mid-body.
        let cut = chunks
            .take(1)
            .map_ok(Frame::data)
            .chain(stream::once(async {
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected reset",
                ))
            }));
        BodyExt::boxed(StreamBody::new(cut))
    } else {
        let body = ended(Box::pin(chunks), ending).map_ok(Frame::data);
        BodyExt::boxed(StreamBody::new(body))
    };
    Ok(response.body(body).unwrap())
}
