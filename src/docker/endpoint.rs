//! How baseimg reaches a daemon at an address ([`crate::daemon_address`] reads its forms):
//! `unix:///…`, `tcp://host:port` (over TLS when DOCKER_TLS_VERIFY asks, with the client certificate
//! from DOCKER_CERT_PATH, as the Docker CLI does) and `ssh://[user@]host[:port][/socket]` (through
//! [`super::ssh`]).
//!
//! bollard makes most requests; BuildKit's session and build need a raw connection of their own
//! ([`Endpoint::dial`]), over the same transport, so every form builds with BuildKit alike.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard::Docker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use super::ssh::{Ssh, SshError, SshStream};
use crate::daemon_address::{AddressError, DaemonAddress};

/// How long bollard waits for a response's head (a build's or push's stream may then run longer).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// A daemon's address, taken apart.
#[derive(Debug, Clone)]
pub(super) enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
    Tls { host: String, files: TlsFiles },
    Ssh(Ssh),
}

/// The client key, certificate and certificate authority of a TLS daemon.
#[derive(Debug, Clone)]
pub(super) struct TlsFiles {
    pub key: PathBuf,
    pub cert: PathBuf,
    pub ca: PathBuf,
}

/// Why an address cannot be dialled: it names no daemon, or its ssh command line is not one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EndpointError {
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error(transparent)]
    Ssh(#[from] SshError),
}

impl Endpoint {
    /// Reads an address, with the TLS and ssh settings of the environment.
    pub(super) fn parse(address: &str) -> Result<Endpoint, EndpointError> {
        Ok(match DaemonAddress::parse(address)? {
            DaemonAddress::Unix(path) => Endpoint::Unix(path),
            DaemonAddress::Ssh(ssh) => Endpoint::Ssh(Ssh::new(ssh)?),
            DaemonAddress::Tcp(host) => match tls_files() {
                Some(files) => Endpoint::Tls { host, files },
                None => Endpoint::Tcp(host),
            },
        })
    }

    /// A bollard client for the daemon (nothing is sent yet).
    pub(super) fn docker(&self, address: &str) -> Result<Docker, bollard::errors::Error> {
        match self {
            Endpoint::Tls { files, .. } => Docker::connect_with_ssl(
                address,
                &files.key,
                &files.cert,
                &files.ca,
                REQUEST_TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            ),
            Endpoint::Ssh(ssh) => ssh.docker(REQUEST_TIMEOUT_SECS),
            // Named transports, not bollard's own reading of DOCKER_TLS_VERIFY: whether a tcp://
            // daemon is spoken to over TLS is decided once, in `parse`, for bollard and BuildKit alike.
            Endpoint::Tcp(_) => Docker::connect_with_http(
                address,
                REQUEST_TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            ),
            Endpoint::Unix(_) => Docker::connect_with_unix(
                address,
                REQUEST_TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            ),
        }
    }

    /// One raw connection to the daemon, for the requests bollard does not make.
    pub(super) async fn dial(&self) -> std::io::Result<Conn> {
        Ok(match self {
            Endpoint::Unix(path) => Conn::Unix(UnixStream::connect(path).await?),
            Endpoint::Tcp(host) => Conn::Tcp(TcpStream::connect(host).await?),
            Endpoint::Tls { host, files } => {
                let (config, name) = tls_config(host, files)?;
                let tcp = TcpStream::connect(host).await?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await?;
                Conn::Tls(Box::new(tls))
            }
            Endpoint::Ssh(ssh) => Conn::Ssh(Box::new(ssh.dial().await?)),
        })
    }
}

/// The key, certificate and CA files when DOCKER_TLS_VERIFY asks for TLS, from DOCKER_CERT_PATH
/// (default `~/.docker`), as the Docker CLI reads them: any value but an empty one asks for TLS.
fn tls_files() -> Option<TlsFiles> {
    let verify = std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty());
    if !verify {
        return None;
    }
    let dir = std::env::var_os("DOCKER_CERT_PATH")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))?;
    Some(TlsFiles {
        key: dir.join("key.pem"),
        cert: dir.join("cert.pem"),
        ca: dir.join("ca.pem"),
    })
}

/// rustls settings for a TLS daemon: its certificate checked against the CA file, baseimg's
/// client certificate offered; and the name the daemon's certificate must carry.
fn tls_config(
    host: &str,
    files: &TlsFiles,
) -> std::io::Result<(
    Arc<rustls::ClientConfig>,
    rustls::pki_types::ServerName<'static>,
)> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let invalid = |what: &Path, e: &dyn std::fmt::Display| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e}", what.display()),
        )
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&files.ca).map_err(|e| invalid(&files.ca, &e))? {
        roots
            .add(cert.map_err(|e| invalid(&files.ca, &e))?)
            .map_err(|e| invalid(&files.ca, &e))?;
    }
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| invalid(&files.cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&files.cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| invalid(&files.key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&files.ca, &e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| invalid(&files.cert, &e))?;
    let bare = host
        .rsplit_once(':')
        .map_or(host, |(name, _)| name)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = ServerName::try_from(bare.to_string()).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("`{bare}` is not a host name: {e}"),
        )
    })?;
    Ok((Arc::new(config), name))
}

/// One connection to the daemon, over any of the transports.
pub(super) enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Ssh(Box<SshStream>),
}

/// Calls the same method on whichever stream the connection holds.
macro_rules! each_stream {
    ($conn:expr, $stream:ident => $call:expr) => {
        match $conn {
            Conn::Unix($stream) => $call,
            Conn::Tcp($stream) => $call,
            Conn::Tls($stream) => $call,
            Conn::Ssh($stream) => $call,
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        each_stream!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        each_stream!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        each_stream!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        each_stream!(self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unix_sockets_tcp_or_ssh() {
        assert!(matches!(
            Endpoint::parse("unix:///var/run/docker.sock"),
            Ok(Endpoint::Unix(p)) if p == Path::new("/var/run/docker.sock")
        ));
        assert!(matches!(
            Endpoint::parse("tcp://127.0.0.1:2375/"),
            Ok(Endpoint::Tcp(h) | Endpoint::Tls { host: h, .. }) if h == "127.0.0.1:2375"
        ));
        assert!(matches!(
            Endpoint::parse("ssh://builder@arm64.example"),
            Ok(Endpoint::Ssh(_))
        ));
        let error = Endpoint::parse("npipe:////./pipe/docker_engine").unwrap_err();
        assert!(
            matches!(error, EndpointError::Address(AddressError::Unknown { .. })),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("not a Docker endpoint"),
            "{error}"
        );
        let error = Endpoint::parse("ssh://a:hunter2@arm64.example").unwrap_err();
        assert_eq!(
            error.to_string(),
            "an ssh address takes no password: ssh reads keys from its agent or configuration"
        );
    }
}
