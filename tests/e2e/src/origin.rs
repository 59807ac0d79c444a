//! A local origin server for the worker to fetch source images from: plain
//! HTTP/1.1 on a loopback port, serving fixed routes. Stopped on drop.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the origin answers on one path.
#[derive(Clone)]
pub struct Route {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Close the connection after this many body bytes, though the
    /// `content-length` promises the whole body.
    pub cut_after: Option<usize>,
    /// Send the body in 64 KiB chunks (`transfer-encoding: chunked`) with no
    /// `content-length`, so its length is known only at its end.
    pub chunked: bool,
}

impl Route {
    /// `200 OK` with `body` as `content_type`.
    pub fn ok(content_type: &str, body: Vec<u8>) -> Route {
        Route {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body,
            delay: Duration::ZERO,
            cut_after: None,
            chunked: false,
        }
    }

    /// `302 Found` to `location`.
    pub fn redirect(location: &str) -> Route {
        Route {
            status: 302,
            headers: vec![("location".into(), location.into())],
            body: Vec::new(),
            delay: Duration::ZERO,
            cut_after: None,
            chunked: false,
        }
    }

    /// This route with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Route {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// This route, with the connection closed after `bytes` of the body.
    pub fn cut_after(mut self, bytes: usize) -> Route {
        self.cut_after = Some(bytes);
        self
    }

    /// This route, its body chunked with no declared length.
    pub fn chunked(mut self) -> Route {
        self.chunked = true;
        self
    }

    /// This route, answered after `delay`.
    pub fn after(mut self, delay: Duration) -> Route {
        self.delay = delay;
        self
    }
}

/// A running origin.
pub struct Origin {
    pub base_url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Origin {
    /// Serves `routes` (path → answer); anything else is a 404.
    pub fn start(routes: HashMap<String, Route>) -> Result<Origin, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("origin: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let base_url = format!("http://{address}");
        // Locations may name the server's own port as `{port}`.
        let mut routes = routes;
        for route in routes.values_mut() {
            for (_, value) in &mut route.headers {
                *value = value.replace("{port}", &address.port().to_string());
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let routes = routes.clone();
                        std::thread::spawn(move || serve(stream, &routes));
                    }
                }
            })
        };
        Ok(Origin { base_url, stop, thread: Some(thread) })
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.base_url.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, routes: &HashMap<String, Route>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let not_found = Route { status: 404, ..Route::ok("text/plain", b"not found".to_vec()) };
    let route = routes.get(path).unwrap_or(&not_found);
    std::thread::sleep(route.delay);
    let length = if route.chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {}", route.body.len())
    };
    let mut head = format!("HTTP/1.1 {} X\r\n{length}\r\nconnection: close\r\n", route.status);
    for (name, value) in &route.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = &stream;
    let _ = stream.write_all(head.as_bytes());
    let body = &route.body[..route.cut_after.unwrap_or(usize::MAX).min(route.body.len())];
    if !route.chunked {
        let _ = stream.write_all(body);
        return;
    }
    for chunk in body.chunks(64 << 10) {
        if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).is_err()
            || stream.write_all(chunk).is_err()
            || stream.write_all(b"\r\n").is_err()
        {
            return;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
}
