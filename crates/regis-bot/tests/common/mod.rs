//! What the tests of the `regis` binary share: starting it, signed requests over real
//! sockets, and waiting for it with a deadline (a process that hangs fails the test instead of
//! hanging it, and is killed).

#![allow(dead_code)] // each test file uses its own part

use ed25519_dalek::{Signer, SigningKey};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The `regis` binary, in `dir`, with the environment a test controls (no inherited
/// `RUST_LOG` or Discord secrets).
pub fn regis(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_regis"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("DISCORD_TOKEN")
        .env_remove("DISCORD_PUBLIC_KEY")
        .env_remove("DISCORD_APPLICATION_ID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A running `regis` that is killed if the test ends without waiting for it.
pub struct Running {
    child: Option<Child>,
    /// Its standard error once [`Running::wait_for_log`] took it over.
    log: Option<std::sync::Arc<std::sync::Mutex<String>>>,
}

impl From<Child> for Running {
    fn from(child: Child) -> Running {
        Running { child: Some(child), log: None }
    }
}

impl Running {
    pub fn spawn(mut command: Command) -> Running {
        Running { child: Some(command.spawn().expect("start regis")), log: None }
    }

    /// Waits until its standard error has a line containing `needle` (fails after `within`,
    /// showing the log); the rest of the log is still collected for [`Running::finish_within`].
    pub fn wait_for_log(&mut self, needle: &str, within: Duration) {
        let log = match &self.log {
            Some(log) => log.clone(),
            None => {
                let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
                let stderr = self.child.as_mut().and_then(|c| c.stderr.take()).expect("stderr is piped");
                let sink = log.clone();
                std::thread::spawn(move || {
                    use std::io::BufRead;
                    for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                        let mut log = sink.lock().unwrap();
                        log.push_str(&line);
                        log.push('\n');
                    }
                });
                self.log = Some(log.clone());
                log
            }
        };
        let deadline = Instant::now() + within;
        while !log.lock().unwrap().contains(needle) {
            assert!(Instant::now() < deadline, "no `{needle}` in the log within {within:?}:\n{}", log.lock().unwrap());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Its log so far, once [`Running::wait_for_log`] took it over.
    pub fn log(&self) -> String {
        self.log.as_ref().map(|l| l.lock().unwrap().clone()).unwrap_or_default()
    }

    /// Sends SIGKILL (no shutdown at all, as when a machine dies).
    pub fn kill(&self) {
        let status = Command::new("kill").args(["-KILL", &self.pid().to_string()]).status().unwrap();
        assert!(status.success());
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Its resident memory now and at its peak, in KiB, from `/proc/PID/status`.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} in {status}"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Waits for it to exit within `within`, else kills it and fails.
    pub fn finish_within(mut self, within: Duration) -> Output {
        let child = self.child.take().unwrap();
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let log = self.log.take();
        let with_log = move |mut output: Output| {
            if let Some(log) = &log {
                // Give the reader thread a moment to take the last lines.
                std::thread::sleep(Duration::from_millis(50));
                output.stderr = log.lock().unwrap().clone().into_bytes();
            }
            output
        };
        match rx.recv_timeout(within) {
            Ok(output) => with_log(output.unwrap()),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                let output = rx.recv().unwrap().unwrap();
                panic!(
                    "regis did not exit within {within:?}; killed it. Its log:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The headers of a request signed with `key` now, for `body`.
pub fn signature_headers(key: &SigningKey, body: &str) -> String {
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let signature = hex::encode(key.sign(format!("{ts}{body}").as_bytes()).to_bytes());
    format!("X-Signature-Ed25519: {signature}\r\nX-Signature-Timestamp: {ts}\r\n")
}

/// `POST /interactions` with `body`, signed with `key`; the raw HTTP answer.
pub fn signed_post(port: u16, key: &SigningKey, body: &str) -> std::io::Result<String> {
    signed_post_within(port, key, body, Duration::from_secs(10))
}

/// [`signed_post`], giving up when no answer comes within `within`.
pub fn signed_post_within(port: u16, key: &SigningKey, body: &str, within: Duration) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(within))?;
    write!(
        stream,
        "POST /interactions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        signature_headers(key, body),
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// A signed PING, retried until the endpoint listens (or `within` passes).
pub fn ping_when_up(port: u16, key: &SigningKey, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        match signed_post(port, key, r#"{"type":1}"#) {
            Ok(response) if !response.is_empty() => return response,
            other => {
                assert!(Instant::now() < deadline, "the endpoint never answered: {other:?}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Polls `check` until it holds, or fails after `within` naming `what`.
pub fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The key the tests sign with, and its public half in hex for `DISCORD_PUBLIC_KEY`.
pub fn test_key() -> (SigningKey, String) {
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let public = hex::encode(key.verifying_key().to_bytes());
    (key, public)
}

/// Runs `command` (its stdin, stdout and stderr piped) with `input` on its standard input,
/// to the end.
pub fn with_input(mut command: Command, input: &[u8]) -> Output {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}
