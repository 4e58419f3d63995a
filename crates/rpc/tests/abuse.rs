//! RPC abuse on loopback against a real server: invalid JSON, huge bodies and huge declared
//! lengths, deep nesting, oversized batches, and slow clients (idle sockets, headers or
//! bodies trickled a byte at a time). Each gets an error or hits a limit, and meanwhile the
//! node keeps answering an ordinary client. Bounded: a few dozen sockets, well under a minute.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on setup failure

mod common;

use prova_rpc::{MAX_BATCH, MAX_REQUEST_BYTES};
use prova_validator::client;
use serde_json::{Value, json};
use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

struct Harness(common::Served);

impl std::ops::Deref for Harness {
    type Target = common::Served;
    fn deref(&self) -> &common::Served {
        &self.0
    }
}

impl Harness {
    fn new() -> Self {
        Self(common::Served::start())
    }

    /// POSTs `body` and returns the HTTP status and the JSON body (Null if not JSON).
    fn raw(&self, body: &[u8]) -> (u16, Value) {
        let r = client::post(&self.url, body, Duration::from_secs(30)).unwrap();
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    /// An ordinary client's call must succeed promptly.
    fn serving(&self) {
        let n = client::call(&self.url, "eth_blockNumber", json!([])).unwrap();
        assert_eq!(n, "0x0");
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// The head of a POST declaring `len` body bytes.
    fn head(&self, len: u64) -> String {
        format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n",
            self.addr
        )
    }
}

/// Reads an HTTP response's status line from `s` (None if the server closed without one).
fn status_of(s: &mut TcpStream) -> Option<u16> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
}

/// An HTTP error, a JSON-RPC error with one of `codes`, or a batch of errors only.
fn is_error(status: u16, v: &Value, codes: &[i64]) -> bool {
    let code = |v: &Value| {
        v["error"]["code"]
            .as_i64()
            .is_some_and(|c| codes.contains(&c))
    };
    (status >= 400 && v.is_null())
        || code(v)
        || v.as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(code))
}

#[test]
fn invalid_json_gets_a_json_rpc_error() {
    let h = Harness::new();
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"[".to_vec(),
        b"}{".to_vec(),
        b"null".to_vec(),
        b"42".to_vec(),
        b"\"eth_blockNumber\"".to_vec(),
        b"{\"jsonrpc\":\"2.0\"}".to_vec(),
        b"{\"jsonrpc\":\"2.0\",\"id\":1}".to_vec(),
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}".to_vec(),
        b"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"eth_blockNumber\"}".to_vec(),
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getBalance\",\"params\":7}".to_vec(),
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_blockNumber\"".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}".to_vec(),
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getBalance\",\"params\":[\"\\ud800\",\"latest\"]}".to_vec(),
        b"[]".to_vec(),
        b"[1,2,3]".to_vec(),
    ];
    for body in &bodies {
        let (status, v) = h.raw(body);
        assert!(
            is_error(status, &v, &[-32700, -32600, -32601, -32602]),
            "{:?}: {status} {v}",
            String::from_utf8_lossy(body)
        );
    }
    // An id that is not a string, number or null makes a notification in jsonrpsee's
    // reading: the answer is `null`, no result.
    for body in [
        &br#"{"jsonrpc":"2.0","id":{},"method":"eth_blockNumber"}"#[..],
        br#"{"jsonrpc":"2.0","id":1e999999,"method":"eth_blockNumber"}"#,
    ] {
        let r = client::post(&h.url, body, Duration::from_secs(30)).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"null"[..]));
    }
    h.serving();
}

#[test]
fn huge_bodies_are_refused_without_being_read() {
    let h = Harness::new();
    // One byte over the limit, sent in full.
    let over = MAX_REQUEST_BYTES as usize + 1;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{{"data":"0x{}"}}]}}"#,
        "0".repeat(over)
    );
    let (status, v) = h.raw(body.as_bytes());
    assert!(is_error(status, &v, &[-32007]), "{status} {v}");
    h.serving();

    // A declared length of a terabyte, with no body following: refused at once from the
    // header, not read or buffered (the read timeout on our side would fail the test).
    let mut s = h.connect();
    s.write_all(h.head(1 << 40).as_bytes()).unwrap();
    assert_eq!(status_of(&mut s), Some(413));

    // Chunked encoding gets no exemption: 8 MiB in chunks is refused too.
    let mut s = h.connect();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        h.addr
    );
    s.write_all(head.as_bytes()).unwrap();
    let start = br#"{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"data":"0x"#;
    s.write_all(format!("{:x}\r\n", start.len()).as_bytes())
        .unwrap();
    s.write_all(start).unwrap();
    s.write_all(b"\r\n").unwrap();
    let chunk = vec![b'0'; 1 << 20];
    for _ in 0..8 {
        if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .is_err()
            || s.write_all(&chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break; // the server answered and closed: fine
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    // jsonrpsee stops reading at the limit and answers with an error status (500 for a
    // streamed body, 413 for a declared one), or the connection is closed.
    let status = status_of(&mut s);
    assert!(
        status.is_none_or(|c| c >= 400),
        "chunked over the limit: {status:?}"
    );
    h.serving();
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let h = Harness::new();
    for depth in [200usize, 10_000, 1_000_000] {
        // Nested arrays as the whole request, as params, and nested objects in eth_call.
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let (status, v) = h.raw(arrays.as_bytes());
        assert!(
            is_error(status, &v, &[-32700, -32600, -32007]),
            "depth {depth}: {status} {v}"
        );
        let params =
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":{arrays}}}"#);
        let (status, v) = h.raw(params.as_bytes());
        assert!(
            is_error(status, &v, &[-32700, -32600, -32602, -32007]),
            "depth {depth}: {status} {v}"
        );
        let objects = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{}1{},"latest"]}}"#,
            r#"{"a":"#.repeat(depth),
            "}".repeat(depth)
        );
        let (status, v) = h.raw(objects.as_bytes());
        assert!(
            is_error(status, &v, &[-32700, -32600, -32602, -32007]),
            "depth {depth}: {status} {v}"
        );
    }
    h.serving();
}

#[test]
fn large_batches_hit_the_limit() {
    let h = Harness::new();
    let call = |i: u32| json!({"jsonrpc":"2.0","id":i,"method":"eth_blockNumber","params":[]});
    // At the limit: every call answered.
    let batch: Vec<Value> = (0..MAX_BATCH).map(call).collect();
    let (_, v) = h.raw(json!(batch).to_string().as_bytes());
    assert_eq!(v.as_array().map(Vec::len), Some(MAX_BATCH as usize), "{v}");
    // One over, and far over (a 4 MB body of tiny calls): one error, nothing executed.
    for n in [MAX_BATCH + 1, 60_000] {
        let batch: Vec<Value> = (0..n).map(call).collect();
        let body = json!(batch).to_string();
        assert!(body.len() < MAX_REQUEST_BYTES as usize);
        let (status, v) = h.raw(body.as_bytes());
        assert!(
            v.get("error").is_some() || status >= 400,
            "{n} calls: {status} {v}"
        );
        assert!(v.as_array().is_none(), "{n} calls were executed");
    }
    h.serving();
}

#[test]
fn slow_clients_do_not_stall_others() {
    let h = Harness::new();
    let mut idle = Vec::new();
    let mut trickling = Vec::new();
    // Sockets that connect and send nothing.
    for _ in 0..16 {
        idle.push(h.connect());
    }
    // Sockets that send half a header, and sockets that send a full header then half a body.
    for k in 0..16 {
        let mut s = h.connect();
        if k % 2 == 0 {
            s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-")
                .unwrap();
        } else {
            s.write_all(h.head(1000).as_bytes()).unwrap();
            s.write_all(b"{\"jsonrpc\":").unwrap();
        }
        trickling.push(s);
    }
    // Keep trickling a byte per socket while an ordinary client keeps being served.
    for round in 0..10 {
        for s in &mut trickling {
            let _ = s.write_all(if round % 2 == 0 { b" " } else { b"\t" });
        }
        h.serving();
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(idle);
    drop(trickling);
    h.serving();
}

#[test]
fn a_stalled_body_is_cut_off() {
    let h = Harness::new();
    // Headers complete, body never finished: the server must not hold the connection (and
    // its slot) forever. It answers with an error or closes within the request timeout.
    let mut s = h.connect();
    s.write_all(h.head(1000).as_bytes()).unwrap();
    s.write_all(b"{\"jsonrpc\":\"2.0\",").unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = s.read_to_end(&mut rest);
    assert!(
        read.is_ok(),
        "server did not close a stalled request within 30 s: {read:?}"
    );
    eprintln!("stalled request closed after {:?}", started.elapsed());
    h.serving();
}
