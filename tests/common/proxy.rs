//! A small HTTP proxy in front of a real registry: it records every request (so tests can count HEADs
//! and GETs) and can misbehave on purpose — answer 500, answer 429 with `Retry-After`, cut a
//! connection, or corrupt a blob — to show what baseimg does when upstream is unreliable.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{StreamExt, stream};
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
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let target = format!("http://{target}");
        let (log_in, faults_in) = (log.clone(), faults.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let client = reqwest::Client::new();
                let counter = Arc::new(AtomicU64::new(0));
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let (client, target, log, faults, counter) =
                                (client.clone(), target.clone(), log_in.clone(), faults_in.clone(), counter.clone());
                            tokio::spawn(async move {
                                let service = hyper::service::service_fn(move |request| {
                                    handle(request, client.clone(), target.clone(), log.clone(), faults.clone(), counter.clone())
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
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
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

async fn handle(
    request: Request<hyper::body::Incoming>,
    client: reqwest::Client,
    target: String,
    log: Arc<Mutex<Vec<Logged>>>,
    faults: Arc<Mutex<Faults>>,
    counter: Arc<AtomicU64>,
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
    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
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
    if let Some(token) = &faults.bearer_token {
        if request.uri().path() == "/token" {
            let scope_ok = path_and_query.contains("scope=repository%3A")
                || path_and_query.contains("scope=repository:");
            if !scope_ok {
                return Ok(full(400, "missing scope"));
            }
            let body = format!("{{\"token\":\"{token}\",\"expires_in\":300}}");
            let mut response = Response::new(
                Full::new(Bytes::from(body))
                    .map_err(|never| match never {})
                    .boxed(),
            );
            response
                .headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
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
        return Ok(full(
            500,
            "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"injected failure\"}]}",
        ));
    }
    if hit(faults.too_many_requests_every, 2) {
        let mut response = full(
            429,
            "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"injected rate limit\"}]}",
        );
        response
            .headers_mut()
            .insert("retry-after", "1".parse().unwrap());
        return Ok(response);
    }
    let is_blob_get = method == hyper::Method::GET && request.uri().path().contains("/blobs/");
    let reset = hit(faults.reset_every, 3);
    if reset && !is_blob_get {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected reset",
        ));
    }

    let mut forward = client.request(method.clone(), format!("{target}{path_and_query}"));
    for (name, value) in request.headers() {
        if name != hyper::header::HOST {
            forward = forward.header(name, value);
        }
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let upstream = match forward.body(body).send().await {
        Ok(response) => response,
        Err(_) => return Ok(full(502, "bad gateway")),
    };
    let mut response = Response::builder().status(upstream.status().as_u16());
    for (name, value) in upstream.headers() {
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
        Ok::<_, std::io::Error>(Frame::data(chunk))
    });
    let body: Body = if reset {
        // Serve a little, then cut the connection mid-body.
        let cut = chunks.take(1).chain(stream::once(async {
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected reset",
            ))
        }));
        BodyExt::boxed(StreamBody::new(cut))
    } else {
        BodyExt::boxed(StreamBody::new(chunks))
    };
    Ok(response.body(body).unwrap())
}
