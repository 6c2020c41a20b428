//! A tiny WebDriver (W3C) client over plain HTTP/1.1 to a local chromedriver: just the
//! commands the browser test needs. One connection per command (`Connection: close`).

#![allow(dead_code)]

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
    pub port: u16,
    pub session: String,
}

/// Decodes a chunked body (`size CRLF data CRLF ... 0 CRLF CRLF`).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 || body.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[(eol + 4 + size).min(body.len())..];
    }
    out
}

pub async fn request(port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect chromedriver");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    // chromedriver keeps the connection open despite `Connection: close`: read the head,
    // then exactly Content-Length bytes (or chunks up to the last one).
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let split = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut buf).await.expect("read");
        assert!(n > 0, "chromedriver closed before the response head");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    let mut payload = raw[split + 4..].to_vec();
    loop {
        let done = match length {
            Some(n) => payload.len() >= n,
            None if chunked => payload.windows(5).any(|w| w == b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = s.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        payload.extend_from_slice(&buf[..n]);
    }
    let payload = if chunked { dechunk(&payload) } else { payload };
    let v: Value = serde_json::from_slice(&payload).unwrap_or_else(|e| {
        panic!(
            "bad webdriver reply {e}: {}",
            String::from_utf8_lossy(&payload)
        )
    });
    if let Some(err) = v["value"].get("error") {
        panic!("webdriver {method} {path}: {err} {}", v["value"]["message"]);
    }
    v["value"].clone()
}

impl Driver {
    pub async fn new_session(port: u16, chromium: &str, args: &[String]) -> Driver {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let v = request(port, "POST", "/session", Some(caps)).await;
        Driver {
            port,
            session: v["sessionId"].as_str().expect("session id").to_string(),
        }
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        request(self.port, method, &path, body).await
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url}))).await;
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT].as_str().expect("element id").to_string()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.cmd(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.cmd("POST", &format!("/element/{el}/click"), Some(json!({})))
            .await;
    }

    pub async fn script(&self, js: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": js, "args": []})),
        )
        .await
    }

    /// Runs `js` with WebDriver's callback as its last argument; returns what it passes.
    pub async fn script_async(&self, js: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": js, "args": []})),
        )
        .await
    }

    /// Lets downloads land in `dir` (headless Chromium drops them otherwise), through
    /// chromedriver's DevTools passthrough.
    pub async fn allow_downloads(&self, dir: &str) {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": "Browser.setDownloadBehavior",
                        "params": {"behavior": "allow", "downloadPath": dir}})),
        )
        .await;
    }

    /// Resizes the browser window (CSS pixels).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    pub async fn current_url(&self) -> String {
        self.cmd("GET", "/url", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Waits (up to 10 s) until the current URL is `url`: a click that submits a form
    /// returns before the next page has loaded. Returns the last URL seen.
    pub async fn wait_for_url(&self, url: &str) -> String {
        let mut seen = String::new();
        for _ in 0..100 {
            seen = self.current_url().await;
            let ready = self.script("return document.readyState").await;
            if seen == url && ready == "complete" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        seen
    }

    /// A PNG screenshot of the viewport, base64 as WebDriver sends it.
    pub async fn screenshot_base64(&self) -> String {
        self.cmd("GET", "/screenshot", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub async fn quit(&self) {
        self.cmd("DELETE", "", None).await;
    }
}
