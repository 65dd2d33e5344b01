//! Reading an HTTP response's head on a raw connection to the daemon, for the requests bollard does
//! not make (BuildKit's session, the ssh transport's check).

use tokio::io::{AsyncRead, AsyncReadExt};

/// Reads an HTTP response head from a raw connection, byte by byte, so nothing after it (a
/// session's HTTP/2 preface, say) is taken from the connection.
pub(super) async fn read(conn: &mut (impl AsyncRead + Unpin)) -> std::io::Result<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the daemon's answer has no end",
            ));
        }
        head.push(conn.read_u8().await?);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
