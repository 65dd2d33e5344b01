//! BuildKit builds through the Engine API, the way the Docker CLI runs them: `POST /build` with
//! `version=2` and a session id, the context tar as the body, and a session the daemon calls back on
//! while it builds (`POST /session`, upgraded to HTTP/2, with baseimg as the gRPC server). The
//! session serves registry credentials (for `FROM` pulls), build secrets (`RUN --mount=type=secret`)
//! and the health check the daemon watches it with.
//!
//! bollard runs such sessions too, but its released version serves only credentials on the `/build`
//! path (secrets only on a path that drops the build's progress and log), so baseimg serves its own,
//! with bollard's generated BuildKit protocol types and tonic. Progress arrives as BuildKit status
//! messages inside the JSON stream (`moby.buildkit.trace`: base64 protobuf); [`Trace`] turns them into
//! the lines `docker build --progress plain` writes.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bollard_buildkit_proto::health::health_check_response::ServingStatus;
use bollard_buildkit_proto::health::health_server::{Health, HealthServer};
use bollard_buildkit_proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;
use bollard_buildkit_proto::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use prost::Message as _;
use tokio::io::AsyncWriteExt;
use tonic::{Request, Response, Status};

use super::endpoint::Endpoint;
use super::response_head;
use crate::catalog::SecretSource;
use crate::credentials::{self, Credential};
use crate::events::Events;

/// BuildKit refuses larger secrets; saying so here names the secret.
const MAX_SECRET_BYTES: u64 = 500 * 1024;

/// The gRPC methods the session offers; the daemon calls only what a session announces.
const METHODS: [&str; 4] = [
    "/grpc.health.v1.Health/Check",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.filesync.v1.Auth/FetchToken",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
];

/// Why a BuildKit session or build could not start, or its stream broke off. The daemon's own words,
/// where it answered, are kept for display.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildKitError {
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("cannot open a session: {0}")]
    SessionRequest(#[source] std::io::Error),
    #[error("the daemon closed the session request: {0}")]
    SessionClosed(#[source] std::io::Error),
    /// The daemon answered the session request with another status than `101 Switching Protocols`.
    #[error("the daemon refused a build session ({status})")]
    SessionRefused { status: String },
    #[error("cannot speak HTTP to the daemon: {0}")]
    Handshake(#[source] hyper::Error),
    #[error("{0}")]
    Request(#[source] hyper::http::Error),
    #[error("the build request failed: {0}")]
    Send(#[source] hyper::Error),
    /// The daemon refused `POST /build`: its status and its message.
    #[error("the daemon refused the build ({status}): {message}")]
    BuildRefused {
        status: hyper::StatusCode,
        message: String,
    },
    #[error("the daemon sent something that is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the build's stream broke off: {0}")]
    BrokeOff(#[source] hyper::Error),
}

/// A session open on the daemon for one build. Dropping it ends the session.
pub(super) struct Session {
    pub id: String,
    server: tokio::task::JoinHandle<()>,
    /// Every secret value handed to the daemon, so the build's output can be masked with them.
    pub served: Served,
}

/// The values of the secrets served so far in a session.
pub(super) type Served = Arc<Mutex<Vec<String>>>;

impl Session {
    /// Opens a session on the daemon (`api`: `/v1.41`), serving `secrets` and the credentials of
    /// `registries` from the Docker configuration. An error says what the daemon answered.
    pub(super) async fn open(
        endpoint: &Endpoint,
        api: &str,
        secrets: HashMap<String, SecretSource>,
        registries: Vec<String>,
        events: &Events,
    ) -> Result<Session, BuildKitError> {
        let mut conn = endpoint.dial().await.map_err(BuildKitError::Connect)?;
        let id = session_id();
        let mut head = format!(
            "POST {api}/session HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\
             Content-Length: 0\r\nX-Docker-Expose-Session-Uuid: {id}\r\n\
             X-Docker-Expose-Session-Name: baseimg\r\nX-Docker-Expose-Session-Sharedkey: {id}\r\n"
        );
        for method in METHODS {
            head.push_str(&format!(
                "X-Docker-Expose-Session-Grpc-Method: {method}\r\n"
            ));
        }
        head.push_str("\r\n");
        conn.write_all(head.as_bytes())
            .await
            .map_err(BuildKitError::SessionRequest)?;
        let answer = response_head::read(&mut conn)
            .await
            .map_err(BuildKitError::SessionClosed)?;
        let status = answer.lines().next().unwrap_or_default();
        if !status.contains(" 101 ") {
            return Err(BuildKitError::SessionRefused {
                status: status.to_string(),
            });
        }
        let served: Served = Arc::default();
        let store = SecretStore {
            sources: secrets,
            served: served.clone(),
        };
        let router = tonic::transport::Server::builder()
            .add_service(HealthServer::new(Healthy))
            .add_service(AuthServer::new(Credentials {
                registries,
                events: events.clone(),
            }))
            .add_service(SecretsServer::new(store));
        let server = tokio::spawn(async move {
            let incoming = futures_util::stream::iter([Ok::<_, std::io::Error>(conn)]);
            let _ = router.serve_with_incoming(incoming).await;
        });
        Ok(Session { id, server, served })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A session id: unique per build, as BuildKit expects.
fn session_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "baseimg-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

struct Healthy;

#[tonic::async_trait]
impl Health for Healthy {
    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn list(
        &self,
        _: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("baseimg answers Check only"))
    }

    type WatchStream =
        Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send + 'static>>;

    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("baseimg answers Check only"))
    }
}

/// Registry credentials for the daemon's pulls, from the Docker configuration (as for the classic
/// builder), for the registries this build may pull from. Token requests are left to the daemon.
struct Credentials {
    registries: Vec<String>,
    events: Events,
}

#[tonic::async_trait]
impl Auth for Credentials {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = &request.get_ref().host;
        let known = self.registries.iter().any(|r| r == host);
        let answer = match known
            .then(|| credentials::for_registry(host, &self.events))
            .flatten()
        {
            Some(Credential::Basic { username, password }) => CredentialsResponse {
                username,
                secret: password,
            },
            Some(Credential::IdentityToken(token)) => CredentialsResponse {
                username: String::new(),
                secret: token,
            },
            None => CredentialsResponse::default(),
        };
        Ok(Response::new(answer))
    }

    async fn fetch_token(
        &self,
        _: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented("the daemon fetches tokens itself"))
    }

    async fn get_token_authority(
        &self,
        _: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("no token authority"))
    }

    async fn verify_token_authority(
        &self,
        _: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("no token authority"))
    }
}

/// The build's secrets, read from their source when the build asks for one (never before).
struct SecretStore {
    sources: HashMap<String, SecretSource>,
    served: Served,
}

impl SecretStore {
    fn value(&self, id: &str) -> Result<Vec<u8>, Status> {
        let source = self.sources.get(id).ok_or_else(|| {
            Status::not_found(format!(
                "the build asked for secret `{id}`, which the catalog does not give this image"
            ))
        })?;
        match source {
            SecretSource::Env(name) => std::env::var_os(name)
                .map(|v| v.into_encoded_bytes())
                .ok_or_else(|| {
                    Status::failed_precondition(format!(
                        "secret `{id}` comes from the environment variable {name}, which is not set"
                    ))
                }),
            SecretSource::File(path) => {
                let metadata = std::fs::metadata(path).map_err(|e| {
                    Status::failed_precondition(format!(
                        "secret `{id}` comes from {}, which cannot be read: {e}",
                        path.display()
                    ))
                })?;
                if !metadata.is_file() || metadata.len() > MAX_SECRET_BYTES {
                    return Err(Status::failed_precondition(format!(
                        "secret `{id}` comes from {}, which is not a regular file of at most 500 KiB",
                        path.display()
                    )));
                }
                std::fs::read(path).map_err(|e| {
                    Status::failed_precondition(format!(
                        "secret `{id}` comes from {}, which cannot be read: {e}",
                        path.display()
                    ))
                })
            }
        }
    }
}

#[tonic::async_trait]
impl Secrets for SecretStore {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let data = self.value(&request.get_ref().id)?;
        let text = String::from_utf8_lossy(&data).trim().to_string();
        if !text.is_empty() {
            self.served.lock().expect("not poisoned").push(text);
        }
        Ok(Response::new(GetSecretResponse { data }))
    }
}

/// Starts `POST /build` with BuildKit on its own connection; returns the JSON stream of messages.
pub(super) async fn start_build(
    endpoint: &Endpoint,
    api: &str,
    query: &[(&str, String)],
    context: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
) -> Result<impl Stream<Item = Result<serde_json::Value, BuildKitError>>, BuildKitError> {
    let conn = endpoint.dial().await.map_err(BuildKitError::Connect)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(conn))
            .await
            .map_err(BuildKitError::Handshake)?;
    tokio::spawn(connection);
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let body = StreamBody::new(context.map_ok(Frame::data));
    let request = hyper::Request::post(format!("{api}/build?{query}"))
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONTENT_TYPE, "application/x-tar")
        .body(body)
        .map_err(BuildKitError::Request)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(BuildKitError::Send)?;
    let status = response.status();
    let body = response.into_body();
    if !status.is_success() {
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
        return Err(BuildKitError::BuildRefused { status, message });
    }
    Ok(json_lines(body.into_data_stream()))
}

/// Splits a body into the JSON documents the daemon writes one per line.
fn json_lines(
    body: impl Stream<Item = Result<Bytes, hyper::Error>> + Send + 'static,
) -> impl Stream<Item = Result<serde_json::Value, BuildKitError>> {
    futures_util::stream::unfold(
        (Box::pin(body), Vec::<u8>::new(), false),
        |(mut body, mut buffer, mut ended)| async move {
            loop {
                if let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let parsed = serde_json::from_slice(&line).map_err(BuildKitError::NotJson);
                    return Some((parsed, (body, buffer, ended)));
                }
                if ended {
                    if buffer.iter().all(u8::is_ascii_whitespace) {
                        return None;
                    }
                    buffer.push(b'\n');
                    continue;
                }
                match body.next().await {
                    Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        ended = true;
                        buffer.clear();
                        return Some((Err(BuildKitError::BrokeOff(e)), (body, buffer, ended)));
                    }
                    None => ended = true,
                }
            }
        },
    )
}

/// BuildKit's status messages, as plain lines: `#3 [stage-0 2/3] RUN …`, the step's output as
/// `#3 …`, then `#3 DONE 0.4s`, `#3 CACHED` or `#3 ERROR: …`.
#[derive(Default)]
pub(super) struct Trace {
    /// Vertex digest → its number in this build, in order of appearance.
    numbers: HashMap<String, usize>,
    started: std::collections::HashSet<String>,
    finished: std::collections::HashSet<String>,
}

/// What one status message means for the build's log and progress.
pub(super) struct Traced {
    pub lines: Vec<String>,
    /// Steps that started (`[stage-0 2/3] RUN …`), for the progress line.
    pub steps: Vec<String>,
}

impl Trace {
    /// Decodes one `moby.buildkit.trace` payload (base64 protobuf).
    pub(super) fn read(&mut self, payload: &str) -> Option<Traced> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .ok()?;
        let status = StatusResponse::decode(bytes.as_slice()).ok()?;
        Some(self.lines(&status))
    }

    fn number(&mut self, digest: &str) -> usize {
        let next = self.numbers.len() + 1;
        *self.numbers.entry(digest.to_string()).or_insert(next)
    }

    fn lines(&mut self, status: &StatusResponse) -> Traced {
        let mut traced = Traced {
            lines: Vec::new(),
            steps: Vec::new(),
        };
        for vertex in &status.vertexes {
            let n = self.number(&vertex.digest);
            if (vertex.started.is_some() || vertex.cached)
                && self.started.insert(vertex.digest.clone())
            {
                traced.lines.push(format!("#{n} {}", vertex.name));
                if vertex.name.starts_with('[') {
                    traced.steps.push(vertex.name.clone());
                }
            }
            let done = vertex.completed.is_some() || !vertex.error.is_empty();
            if done && self.finished.insert(vertex.digest.clone()) {
                let line = if !vertex.error.is_empty() {
                    format!("#{n} ERROR: {}", vertex.error)
                } else if vertex.cached {
                    format!("#{n} CACHED")
                } else {
                    let seconds = match (&vertex.started, &vertex.completed) {
                        (Some(a), Some(b)) => {
                            (b.seconds - a.seconds) as f64 + f64::from(b.nanos - a.nanos) / 1e9
                        }
                        _ => 0.0,
                    };
                    format!("#{n} DONE {seconds:.1}s")
                };
                traced.lines.push(line);
            }
        }
        for log in &status.logs {
            let n = self.number(&log.vertex);
            let text = String::from_utf8_lossy(&log.msg);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                traced.lines.push(format!("#{n} {line}"));
            }
        }
        traced
    }
}

/// `line` with every served secret value replaced by `***`: a build step that prints a secret must
/// not put it into the log.
pub(super) fn masked(line: &str, served: &Served) -> String {
    let served = served.lock().expect("not poisoned");
    let mut line = line.to_string();
    for value in served.iter() {
        line = line.replace(value.as_str(), "***");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_buildkit_proto::google::protobuf::Timestamp;
    use bollard_buildkit_proto::moby::buildkit::v1::{Vertex, VertexLog};

    fn encoded(status: &StatusResponse) -> String {
        base64::engine::general_purpose::STANDARD.encode(status.encode_to_vec())
    }

    #[test]
    fn a_trace_reads_as_plain_numbered_lines() {
        let mut trace = Trace::default();
        let at = |seconds, nanos| Some(Timestamp { seconds, nanos });
        let run = |started, completed, error: &str| Vertex {
            digest: "sha256:b".into(),
            name: "[stage-0 2/2] RUN make".into(),
            started,
            completed,
            error: error.into(),
            ..Default::default()
        };
        let first = trace
            .read(&encoded(&StatusResponse {
                vertexes: vec![
                    Vertex {
                        digest: "sha256:a".into(),
                        name: "[internal] load remote build context".into(),
                        started: at(10, 0),
                        completed: at(10, 500_000_000),
                        ..Default::default()
                    },
                    run(at(11, 0), None, ""),
                ],
                ..Default::default()
            }))
            .unwrap();
        assert_eq!(
            first.lines,
            [
                "#1 [internal] load remote build context",
                "#1 DONE 0.5s",
                "#2 [stage-0 2/2] RUN make"
            ]
        );
        assert_eq!(
            first.steps,
            [
                "[internal] load remote build context",
                "[stage-0 2/2] RUN make"
            ]
        );
        let second = trace
            .read(&encoded(&StatusResponse {
                vertexes: vec![run(at(11, 0), at(12, 0), "exit code: 2")],
                logs: vec![VertexLog {
                    vertex: "sha256:b".into(),
                    msg: b"cc: error\n\n".to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            }))
            .unwrap();
        assert_eq!(second.lines, ["#2 ERROR: exit code: 2", "#2 cc: error"]);
        assert!(trace.read("not base64!").is_none());
    }

    #[test]
    fn served_secret_values_are_masked_in_output() {
        let served: Served = Arc::new(Mutex::new(vec!["s3cr3t-token".into()]));
        assert_eq!(
            masked("pip: using https://u:s3cr3t-token@pypi/simple", &served),
            "pip: using https://u:***@pypi/simple"
        );
    }

    #[test]
    fn a_secret_is_read_from_its_file_when_asked_for_and_refused_with_its_source_named() {
        let dir = tempfile::tempdir().unwrap();
        let (small, large) = (dir.path().join("netrc"), dir.path().join("large"));
        std::fs::write(&small, "machine pypi login ci password p4ss\n").unwrap();
        std::fs::write(&large, vec![b'x'; 600 * 1024]).unwrap();
        let store = SecretStore {
            sources: HashMap::from([
                ("netrc".to_string(), SecretSource::File(small)),
                ("large".to_string(), SecretSource::File(large.clone())),
                (
                    "gone".to_string(),
                    SecretSource::File(dir.path().join("gone")),
                ),
                (
                    "dir".to_string(),
                    SecretSource::File(dir.path().to_path_buf()),
                ),
            ]),
            served: Served::default(),
        };
        assert_eq!(
            store.value("netrc").unwrap(),
            b"machine pypi login ci password p4ss\n"
        );
        let refused = |id: &str| store.value(id).unwrap_err().message().to_string();
        assert!(refused("large").contains("not a regular file of at most 500 KiB"));
        assert!(refused("large").contains(&large.display().to_string()));
        assert!(refused("gone").starts_with("secret `gone` comes from"));
        assert!(refused("dir").contains("not a regular file"));
        assert!(refused("other").contains("which the catalog does not give this image"));
    }
}
