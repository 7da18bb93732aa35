//! A real IRC server for tests: Debian's ngircd on a free loopback port with a throwaway
//! configuration (`TEST_NGIRCD` names another binary; `scripts/test` installs it), and a
//! plain IRC client to talk to the bot through it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// How long the helpers wait for the server or a line.
pub const WAIT: Duration = Duration::from_secs(15);

/// A private ngircd, killed when dropped.
pub struct Server {
    child: Child,
    port: u16,
    /// The TLS port and the certificate (PEM) it serves, for [`Server::start_with_tls`].
    tls: Option<(u16, std::path::PathBuf)>,
    conf: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts one on a free loopback port and waits until it listens.
    pub fn start() -> Server {
        Server::start_inner(false)
    }

    /// The same, also serving TLS on a second port with a self-signed certificate for
    /// 127.0.0.1 made with `openssl` (see [`Server::tls_addr`], [`Server::certificate`]).
    pub fn start_with_tls() -> Server {
        Server::start_inner(true)
    }

    fn start_inner(with_tls: bool) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let tls = with_tls.then(|| {
            // A CA of its own and a certificate for 127.0.0.1 signed by it (rustls refuses a
            // self-signed CA certificate as the server's own).
            let file = |name: &str| dir.path().join(name);
            std::fs::write(file("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
            let openssl = |args: &[&str]| {
                let made = Command::new("openssl")
                    .args(args)
                    .current_dir(dir.path())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("openssl, to make the test server's certificate");
                assert!(made.success(), "openssl {args:?} failed");
            };
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=regis-test-ca",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ]);
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                "cert.pem",
            ]);
            let (cert, key) = (file("cert.pem"), file("key.pem"));
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            (port, cert, key, file("ca.pem"))
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conf = dir.path().join("ngircd.conf");
        std::fs::write(
            &conf,
            format!(
                "[Global]\nName = irc.regis.test\nInfo = Regis test server\nListen = 127.0.0.1\nPorts = {port}\n\
                 PidFile = {pid}\nMotdPhrase = test\n[Limits]\nMaxNickLength = 30\nPingTimeout = 120\n\
                 [Options]\nPAM = no\nIdent = no\nDNS = no\n[Channel]\nName = #regis\nModes = n\n",
                pid = dir.path().join("ngircd.pid").display()
            ) + &tls
                .as_ref()
                .map(|(port, cert, key, _)| {
                    format!("[SSL]\nCertFile = {}\nKeyFile = {}\nPorts = {port}\n", cert.display(), key.display())
                })
                .unwrap_or_default(),
        )
        .unwrap();
        let tls = tls.map(|(port, _, _, ca)| (port, ca));
        let mut server = Server { child: spawn(&conf), port, tls, conf, _dir: dir };
        server.wait_up();
        server
    }

    fn wait_up(&mut self) {
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "ngircd never listened");
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("ngircd exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server and starts it again on the same port.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.conf);
        self.wait_up();
    }

    /// `127.0.0.1:port` of the TLS port (started with [`Server::start_with_tls`]).
    pub fn tls_addr(&self) -> String {
        format!("127.0.0.1:{}", self.tls.as_ref().expect("started with TLS").0)
    }

    /// The root certificate (PEM) the TLS port's certificate is signed with.
    pub fn certificate(&self) -> std::path::PathBuf {
        self.tls.as_ref().expect("started with TLS").1.clone()
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn spawn(conf: &std::path::Path) -> Child {
    let installed = std::path::Path::new("/usr/sbin/ngircd");
    let binary = std::env::var("TEST_NGIRCD").unwrap_or_else(|_| {
        if installed.exists() {
            installed.display().to_string()
        } else {
            "ngircd".into()
        }
    });
    Command::new(binary)
        .args(["--nodaemon", "--config"])
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ngircd (scripts/test installs it)")
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain IRC client.
pub struct Client {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
    nick: String,
}

impl Client {
    /// Connects and registers as `nick`.
    pub async fn connect(server: &Server, nick: &str) -> Client {
        Client::connect_to(&server.addr(), nick).await
    }

    /// Connects to any server at `addr` (`127.0.0.1:port`) and registers as `nick`.
    pub async fn connect_to(addr: &str, nick: &str) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (read, write) = stream.into_split();
        let mut client = Client { read: BufReader::new(read), write, nick: nick.into() };
        client.send(&format!("NICK {nick}")).await;
        client.send(&format!("USER {nick} 0 * :test client")).await;
        client.until(|l| l.split(' ').nth(1) == Some("001")).await;
        client
    }

    /// Sends one protocol line.
    pub async fn send(&mut self, line: &str) {
        self.write.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
    }

    /// Joins `channel` and waits for the end of its names.
    pub async fn join(&mut self, channel: &str) {
        self.send(&format!("JOIN {channel}")).await;
        self.until(|l| l.split(' ').nth(1) == Some("366")).await;
    }

    /// Lines until one passes `check` (answering PINGs); panics after [`WAIT`].
    pub async fn until(&mut self, check: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut line = String::new();
            match tokio::time::timeout_at(deadline, self.read.read_line(&mut line)).await {
                Ok(Ok(n)) if n > 0 => {}
                other => panic!("{}: no matching line ({other:?})", self.nick),
            }
            let line = line.trim_end().to_string();
            if let Some(server) = line.strip_prefix("PING ") {
                self.send(&format!("PONG {server}")).await;
                continue;
            }
            if check(&line) {
                return line;
            }
        }
    }

    /// The text of the next PRIVMSG from `from` to `to`, and its whole line.
    pub async fn privmsg(&mut self, from: &str, to: &str) -> (String, String) {
        let head = format!(":{from}!");
        let command = format!(" PRIVMSG {to} :");
        let line = self.until(|l| l.starts_with(&head) && l.contains(&command)).await;
        let text = line.split_once(&command).map(|(_, t)| t.to_string()).unwrap_or_default();
        (text, line)
    }
}
