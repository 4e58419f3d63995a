//! A tiny blocking JSON-RPC client over `std::net::TcpStream` (HTTP/1.1, `http://` only), for
//! the CLI and tests: no async runtime, no TLS, no extra dependencies.

use serde_json::{Value, json};
use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::Duration,
};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `http://host[:port][/path]`.
    #[error("unsupported RPC URL {0:?} (expected http://host:port)")]
    Url(String),
    /// Connecting, writing or reading failed.
    #[error("cannot reach {url}: {source}")]
    Io {
        /// The URL.
        url: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The response is not HTTP or not JSON-RPC.
    #[error("bad response from {url}: {what}")]
    Response {
        /// The URL.
        url: String,
        /// What was wrong.
        what: String,
    },
    /// The server answered with a JSON-RPC error.
    #[error("{message} (code {code})")]
    Rpc {
        /// Error code.
        code: i64,
        /// Message.
        message: String,
        /// Data, if any.
        data: Option<Value>,
    },
}

/// An HTTP response: status and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

fn split_url(url: &str) -> Result<(String, String), ClientError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ClientError::Url(url.into()))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() {
        return Err(ClientError::Url(url.into()));
    }
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    Ok((host, path.to_string()))
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// POSTs `body` to `url` with `Content-Type: application/json` and returns the response.
pub fn post(url: &str, body: &[u8], timeout: Duration) -> Result<HttpResponse, ClientError> {
    let (host, path) = split_url(url)?;
    let io = |source| ClientError::Io {
        url: url.to_string(),
        source,
    };
    let addr = host
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| ClientError::Url(url.into()))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).map_err(io)?;
    // The server may answer (413) and close before reading a large body: keep the answer.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    let bad = |what: &str| ClientError::Response {
        url: url.to_string(),
        what: what.to_string(),
    };
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no HTTP header"))?;
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no HTTP status"))?;
    let mut body = raw[end + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body).ok_or_else(|| bad("malformed chunked body"))?;
    }
    Ok(HttpResponse { status, body })
}

/// Calls `method` with `params` at `url` (30 s timeout) and returns the result.
pub fn call(url: &str, method: &str, params: Value) -> Result<Value, ClientError> {
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let resp = post(url, req.to_string().as_bytes(), Duration::from_secs(30))?;
    let v: Value = serde_json::from_slice(&resp.body).map_err(|e| ClientError::Response {
        url: url.to_string(),
        what: format!("HTTP {}: not JSON: {e}", resp.status),
    })?;
    if let Some(err) = v.get("error") {
        return Err(ClientError::Rpc {
            code: err.get("code").and_then(Value::as_i64).unwrap_or_default(),
            message: err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            data: err.get("data").cloned(),
        });
    }
    v.get("result")
        .cloned()
        .ok_or_else(|| ClientError::Response {
            url: url.to_string(),
            what: "no result".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_chunks() {
        assert_eq!(
            split_url("http://127.0.0.1:8545").unwrap(),
            ("127.0.0.1:8545".into(), "/".into())
        );
        assert_eq!(
            split_url("http://localhost/x").unwrap(),
            ("localhost:80".into(), "/x".into())
        );
        assert!(split_url("https://x").is_err());
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
    }
}
