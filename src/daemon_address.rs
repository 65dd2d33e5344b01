//! A Docker daemon's address, in the forms DOCKER_HOST takes: `unix:///path/to/docker.sock`,
//! `tcp://host:port` and `ssh://[user@]host[:port][/socket]`, taken apart.
//!
//! Parsing only: nothing here reads the environment (whether tcp is spoken over TLS, which `ssh`
//! command runs) or dials. The catalog's `builders:` check and the daemon client read addresses
//! with the same code, and every message shows an address with a password written into it as `***`.

use std::path::PathBuf;

/// A daemon's address, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DaemonAddress {
    Unix(PathBuf),
    /// `host:port`, without the scheme or a trailing `/`; TLS or not is the environment's to say.
    Tcp(String),
    Ssh(SshAddress),
}

/// `ssh://[user@]host[:port][/socket]`, with the user and socket path percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SshAddress {
    pub user: Option<String>,
    /// Without the brackets of an IPv6 address.
    pub host: String,
    pub port: Option<u16>,
    /// The remote daemon's socket, when the address names one; else the remote `docker` decides.
    pub socket: Option<String>,
}

/// Why an address names no daemon to dial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AddressError {
    #[error(
        "`{}` is not a Docker endpoint: write unix:///path/to/docker.sock, tcp://host:port or ssh://[user@]host",
        address.escape_debug()
    )]
    Unknown { address: String },
    /// Said after the address, which the message it is part of names already.
    #[error(transparent)]
    Ssh(#[from] SshAddressError),
}

/// Why the catalog's `builders:` refuses a daemon address (said after "builder host"). The check
/// is stricter than dialling: a unix socket's path is absolute, and tcp is written `tcp://`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UnusableAddress {
    #[error("`{}` is not a Docker endpoint baseimg speaks to", address.escape_debug())]
    Unknown { address: String },
    #[error("`{}` is not a usable ssh address: {error}", shown.escape_debug())]
    Ssh {
        /// The address as [`shown`] shows it.
        shown: String,
        #[source]
        error: SshAddressError,
    },
}

/// What is wrong with an `ssh://` address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SshAddressError {
    #[error("not an ssh address: {0}")]
    Url(#[source] url::ParseError),
    #[error("not an ssh:// address")]
    Scheme,
    #[error("an ssh address takes no password: ssh reads keys from its agent or configuration")]
    Password,
    #[error("an ssh address ends with the host, its port or the remote socket")]
    Trailing,
    #[error("an ssh address names a host: ssh://[user@]host[:port]")]
    NoHost,
}

impl DaemonAddress {
    /// Reads an address to dial: `unix://…`, `tcp://…` (or `http://…`), or `ssh://…`.
    pub(crate) fn parse(address: &str) -> Result<DaemonAddress, AddressError> {
        if let Some(path) = address.strip_prefix("unix://") {
            return Ok(DaemonAddress::Unix(PathBuf::from(path)));
        }
        if address.starts_with("ssh://") {
            return Ok(DaemonAddress::Ssh(SshAddress::parse(address)?));
        }
        address
            .strip_prefix("tcp://")
            .or(address.strip_prefix("http://"))
            .map(|h| h.trim_end_matches('/').to_string())
            .filter(|h| !h.is_empty())
            .map(DaemonAddress::Tcp)
            .ok_or_else(|| AddressError::Unknown {
                address: address.to_string(),
            })
    }
}

impl SshAddress {
    /// Parses `ssh://[user@]host[:port][/path/to/docker.sock]`.
    pub(crate) fn parse(address: &str) -> Result<SshAddress, SshAddressError> {
        let url = url::Url::parse(address).map_err(SshAddressError::Url)?;
        if url.scheme() != "ssh" {
            return Err(SshAddressError::Scheme);
        }
        if url.password().is_some() {
            return Err(SshAddressError::Password);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(SshAddressError::Trailing);
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(SshAddressError::NoHost)?;
        // Written percent-encoded in a URL (`DOMAIN%5Cjo`, `my%20dir`), meant decoded.
        let decoded = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned()
        };
        let socket = match url.path() {
            "" | "/" => None,
            path => Some(decoded(path)),
        };
        Ok(SshAddress {
            user: Some(url.username()).filter(|u| !u.is_empty()).map(decoded),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: url.port(),
            socket,
        })
    }
}

/// Whether `address` is one baseimg can speak to, as the catalog's `builders:` check asks: nothing
/// is read from the environment.
pub(crate) fn check(address: &str) -> Result<(), UnusableAddress> {
    if address.starts_with("ssh://") {
        return SshAddress::parse(address)
            .map(drop)
            .map_err(|error| UnusableAddress::Ssh {
                shown: shown(address),
                error,
            });
    }
    let rest = address
        .strip_prefix("unix:///")
        .or_else(|| address.strip_prefix("tcp://"));
    match rest {
        Some(rest) if !rest.is_empty() => Ok(()),
        _ => Err(UnusableAddress::Unknown {
            address: address.to_string(),
        }),
    }
}

/// The address as messages show it: a password written into it (which no address takes) as `***`.
pub(crate) fn shown(address: &str) -> String {
    match url::Url::parse(address) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unix_sockets_tcp_or_ssh() {
        assert_eq!(
            DaemonAddress::parse("unix:///var/run/docker.sock"),
            Ok(DaemonAddress::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            DaemonAddress::parse("tcp://127.0.0.1:2375/"),
            Ok(DaemonAddress::Tcp("127.0.0.1:2375".into()))
        );
        assert_eq!(
            DaemonAddress::parse("ssh://builder@[::1]:2222/run/my%20dir/d.sock"),
            Ok(DaemonAddress::Ssh(SshAddress {
                user: Some("builder".into()),
                host: "::1".into(),
                port: Some(2222),
                socket: Some("/run/my dir/d.sock".into()),
            }))
        );
        let error = DaemonAddress::parse("npipe:////./pipe/docker_engine").unwrap_err();
        assert!(
            error.to_string().contains("not a Docker endpoint"),
            "{error}"
        );
        assert!(check("ssh://builder@arm64.example:2222").is_ok());
        assert_eq!(
            shown("ssh://a:hunter2@arm64.example/x.sock"),
            "ssh://a:***@arm64.example/x.sock"
        );
        let error = check("ssh://a:hunter2@arm64.example").unwrap_err();
        assert_eq!(
            error.to_string(),
            "`ssh://a:***@arm64.example` is not a usable ssh address: an ssh address takes no password: ssh reads keys from its agent or configuration"
        );
        assert!(check("tcp://").is_err());
        assert!(check("unix:///").is_err());
    }

    #[test]
    fn malformed_ssh_addresses_say_what_is_wrong() {
        for (address, said) in [
            ("ssh://me:secret@host", "takes no password"),
            ("ssh://", "names a host"),
            ("ssh://host?x=1", "ends with the host"),
            ("tcp://host:2375", "not an ssh:// address"),
        ] {
            let error = SshAddress::parse(address).unwrap_err().to_string();
            assert!(error.contains(said), "{address}: {error}");
            assert!(!error.contains("secret"), "{error}");
        }
    }
}
