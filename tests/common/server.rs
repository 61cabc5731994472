//! A small HTTP/1.1 server on 127.0.0.1:0 that answers with whatever a test's handler says,
//! including what real APIs do on bad days: stalls, dropped connections, truncated bodies and
//! streams cut short. It keeps every request it received, so a test can count calls.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lowercase.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// When the request was fully read.
    pub at: Instant,
    /// How many requests with this path and body arrived so far, this one included: a retry of
    /// a call sends the same body again.
    pub nth: u32,
    /// Which TCP connection carried it (numbered in accept order).
    pub connection: usize,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What the server does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response; the connection stays open for the next request.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Headers announcing `declared` bytes, fewer bytes, then the connection closes.
    Truncated {
        status: u16,
        body: Vec<u8>,
        declared: usize,
    },
    /// Close the connection without a word.
    Drop,
    /// Say nothing for this long, then close.
    Stall(Duration),
    /// Wait, then reply.
    After(Duration, Box<Reply>),
    /// A `text/event-stream` (chunked): each chunk after its delay. `cut` closes the connection
    /// after the last chunk without ending the stream.
    Events {
        chunks: Vec<(Duration, String)>,
        cut: bool,
    },
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// Add a header to a full response.
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Full { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

struct State {
    handler: Box<Handler>,
    requests: Mutex<Vec<Request>>,
    seen: Mutex<HashMap<(String, Vec<u8>), u32>>,
    connections: std::sync::atomic::AtomicUsize,
    /// Connections being served now.
    open: std::sync::atomic::AtomicUsize,
}

/// Counts a connection as open while it is served.
struct Open<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A running server; it stops when dropped.
pub struct Server {
    addr: SocketAddr,
    state: Arc<State>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Server {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            handler: Box::new(handler),
            requests: Mutex::new(Vec::new()),
            seen: Mutex::new(HashMap::new()),
            connections: std::sync::atomic::AtomicUsize::new(0),
            open: std::sync::atomic::AtomicUsize::new(0),
        });
        let st = state.clone();
        rt.spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(sock, st.clone()));
            }
        });
        Server {
            addr,
            state,
            rt: Some(rt),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Wait until no connection is being served (every request a finished or killed client
    /// sent is then in [`Server::requests`]): twice in a row 10 ms apart, at most `timeout`.
    pub fn wait_idle(&self, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        let mut idle_once = false;
        while std::time::Instant::now() < deadline {
            let idle = self.state.open.load(std::sync::atomic::Ordering::SeqCst) == 0;
            if idle && idle_once {
                return;
            }
            idle_once = idle;
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the server still serves connections after {timeout:?}");
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn serve(mut sock: TcpStream, state: Arc<State>) {
    let connection = state
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    state.open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _open = Open(&state.open);
    let mut buf = Vec::new();
    loop {
        let Some(mut req) = read_request(&mut sock, &mut buf).await else {
            return;
        };
        req.connection = connection;
        {
            let mut seen = state.seen.lock().unwrap();
            let n = seen
                .entry((req.path.clone(), req.body.clone()))
                .or_default();
            *n += 1;
            req.nth = *n;
        }
        state.requests.lock().unwrap().push(req.clone());
        let reply = (state.handler)(&req);
        if !respond(&mut sock, reply).await {
            return;
        }
    }
}

/// Write a reply; false when the connection is to be closed.
async fn respond(sock: &mut TcpStream, reply: Reply) -> bool {
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let mut out = head.into_bytes();
            out.extend_from_slice(&body);
            sock.write_all(&out).await.is_ok()
        }
        Reply::Truncated {
            status,
            body,
            declared,
        } => {
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n\r\n"
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&body).await;
            let _ = sock.flush().await;
            false
        }
        Reply::Drop => false,
        Reply::Stall(d) => {
            tokio::time::sleep(d).await;
            false
        }
        Reply::After(d, r) => {
            tokio::time::sleep(d).await;
            Box::pin(respond(sock, *r)).await
        }
        Reply::Events { chunks, cut } => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
            if sock.write_all(head.as_bytes()).await.is_err() {
                return false;
            }
            for (delay, data) in chunks {
                tokio::time::sleep(delay).await;
                let chunk = format!("{:x}\r\n{data}\r\n", data.len());
                if sock.write_all(chunk.as_bytes()).await.is_err() {
                    return false;
                }
                let _ = sock.flush().await;
            }
            if cut {
                return false;
            }
            sock.write_all(b"0\r\n\r\n").await.is_ok()
        }
    }
}

async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 8192];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let total = head_end + 4 + len;
    while buf.len() < total {
        let mut chunk = [0u8; 8192];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end + 4..total].to_vec();
    buf.drain(..total);
    Some(Request {
        method,
        path,
        headers,
        body,
        at: Instant::now(),
        nth: 0,
        connection: 0,
    })
}

/// An OpenAI chat completion of `model` answering `text` (12 prompt and 3 completion tokens).
pub fn completion(model: &str, text: &str) -> Reply {
    Reply::json(
        200,
        serde_json::json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        }),
    )
}

/// `model` answering `text` in the wire format of the request's path: an Anthropic message for
/// `…/messages`, an OpenAI chat completion otherwise (30 input and 2 output tokens either way).
pub fn wire_answer(path: &str, model: &str, text: &str) -> Reply {
    if path.ends_with("/messages") {
        Reply::json(
            200,
            serde_json::json!({"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "stop_sequence": null, "usage": {"input_tokens": 30, "output_tokens": 2}}),
        )
    } else {
        Reply::json(
            200,
            serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 30, "completion_tokens": 2, "total_tokens": 32}}),
        )
    }
}

/// One server-sent event (`event:` line when named, then `data:`), sent without delay: a part of
/// a streamed reply.
pub fn sse(event: Option<&str>, data: serde_json::Value) -> (Duration, String) {
    let head = event.map(|e| format!("event: {e}\n")).unwrap_or_default();
    (Duration::ZERO, format!("{head}data: {data}\n\n"))
}
