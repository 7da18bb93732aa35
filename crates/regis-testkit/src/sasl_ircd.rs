//! An IRC server with IRCv3 capabilities and SASL for tests: Debian's InspIRCd 3 on a free
//! loopback port, linked on a second loopback port to a private Atheme (services: NickServ
//! and SaslServ), with throwaway configuration and accounts written into Atheme's database
//! before it starts. `scripts/test` installs both packages. Both daemons are killed when the
//! server is dropped.
//!
//! The server offers `sasl` only while the services are linked, so [`SaslServer::start`]
//! returns once a probe sees `sasl=...PLAIN` in `CAP LS`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long starting waits for SASL to be offered.
const WAIT: Duration = Duration::from_secs(30);

/// A private InspIRCd + Atheme pair.
pub struct SaslServer {
    port: u16,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl SaslServer {
    /// Starts the pair with these services accounts (name and password) and waits until a
    /// client is offered SASL PLAIN.
    pub fn start(accounts: &[(&str, &str)]) -> SaslServer {
        let dir = tempfile::tempdir().unwrap();
        let (port, link) = (free_port(), free_port());
        let root = dir.path().to_path_buf();
        let path = |name: &str| root.join(name);
        std::fs::write(path("inspircd.conf"), inspircd_conf(dir.path(), port, link)).unwrap();
        std::fs::write(path("motd.txt"), "Regis SASL test server\n").unwrap();
        std::fs::write(path("atheme.conf"), atheme_conf(dir.path(), link)).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let mut db = String::from("DBV 12\n");
        for (i, (name, password)) in accounts.iter().enumerate() {
            // No `C` flag: the password is plain, and Atheme hashes it again on first use.
            let id = format!("AAAAAAAA{}", char::from(b'B' + i as u8));
            db.push_str(&format!("MU {id} {name} {password} {name}@regis.test {now} {now} +b default\n"));
            db.push_str(&format!("MN {name} {name} {now} {now}\n"));
        }
        std::fs::write(path("services.db"), db).unwrap();
        let server = SaslServer { port, dir };
        // Both daemonise and write their pid files; the parent's status says whether they began.
        let inspircd = std::env::var("TEST_INSPIRCD").unwrap_or_else(|_| "inspircd".into());
        let started = Command::new(inspircd)
            .arg(format!("--config={}", path("inspircd.conf").display()))
            .arg("--runasroot")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("inspircd (scripts/test installs it)");
        assert!(started.success(), "inspircd did not start: see {}", path("ircd.log").display());
        wait_for(|| std::net::TcpStream::connect(("127.0.0.1", link)).is_ok(), "inspircd's link port");
        let atheme = std::env::var("TEST_ATHEME").unwrap_or_else(|_| "atheme-services".into());
        let started = Command::new(atheme)
            .arg("-c")
            .arg(path("atheme.conf"))
            .arg("-D")
            .arg(&root)
            .arg("-l")
            .arg(path("atheme.log"))
            .arg("-p")
            .arg(path("atheme.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("atheme-services (scripts/test installs it)");
        assert!(started.success(), "atheme did not start: see {}", path("atheme.log").display());
        wait_for(|| offers_sasl_plain(port), "SASL PLAIN in CAP LS");
        server
    }

    /// `127.0.0.1:port` for clients.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the services: the server stops offering SASL (as when services are down).
    pub fn stop_services(&self) {
        kill_by_pid_file(&self.dir.path().join("atheme.pid"));
    }
}

fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + WAIT;
    while !ready() {
        assert!(Instant::now() < deadline, "never ready: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a client connecting now is offered `sasl=...PLAIN`.
fn offers_sasl_plain(port: u16) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"CAP LS 302\r\n").is_err() {
        return false;
    }
    let mut lines = BufReader::new(stream.try_clone().unwrap()).lines();
    let offered = loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(" CAP ") && line.contains(" LS ") => {
                let caps = line.rsplit_once(" :").map_or("", |(_, caps)| caps);
                if caps.split(' ').any(|c| c.strip_prefix("sasl=").is_some_and(|m| m.split(',').any(|m| m == "PLAIN")))
                {
                    break true;
                }
                if !line.contains(" LS * ") {
                    break false;
                }
            }
            Some(Ok(_)) => {}
            _ => break false,
        }
    };
    let _ = stream.write_all(b"QUIT\r\n");
    offered
}

fn kill_by_pid_file(file: &Path) {
    let Some(pid) = std::fs::read_to_string(file).ok().and_then(|p| p.trim().parse::<i32>().ok()) else { return };
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).stderr(Stdio::null()).status();
}

impl Drop for SaslServer {
    fn drop(&mut self) {
        kill_by_pid_file(&self.dir.path().join("atheme.pid"));
        kill_by_pid_file(&self.dir.path().join("inspircd.pid"));
    }
}

fn inspircd_conf(dir: &Path, port: u16, link: u16) -> String {
    let file = |name: &str| -> PathBuf { dir.join(name) };
    format!(
        r#"<server name="irc.regis.test" description="Regis SASL test server" id="001" network="RegisTest">
<admin name="test" nick="test" email="test@regis.test">
<bind address="127.0.0.1" port="{port}" type="clients">
<bind address="127.0.0.1" port="{link}" type="servers">
<connect name="main" allow="*" timeout="60" pingfreq="120" hardsendq="16777216" softsendq="8388608" recvq="1048576" threshold="100000" commandrate="100000000" fakelag="no" localmax="1000" globalmax="1000" resolvehostnames="no" useident="no" limit="5000">
<dns server="127.0.0.1" timeout="1">
<pid file="{pid}">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{log}" flush="1">
<files motd="{motd}">
<security hideserver="" announceinvites="dynamic" hidesplits="no" hideulines="no" maxtargets="20">
<performance quietbursts="yes" softlimit="1024" somaxconn="128">
<module name="cap">
<module name="ircv3">
<module name="sasl">
<sasl target="services.regis.test" requiressl="no">
<module name="services_account">
<module name="spanningtree">
<module name="hidechans">
<module name="servprotect">
<module name="chghost">
<module name="chgident">
<module name="chgname">
<module name="svshold">
<link name="services.regis.test" ipaddr="127.0.0.1" port="{link}" allowmask="127.0.0.0/8" timeout="60" sendpass="link-{link}" recvpass="link-{link}">
<uline server="services.regis.test" silent="yes">
"#,
        pid = file("inspircd.pid").display(),
        log = file("ircd.log").display(),
        motd = file("motd.txt").display(),
    )
}

fn atheme_conf(dir: &Path, link: u16) -> String {
    format!(
        r#"loadmodule "modules/protocol/inspircd";
loadmodule "modules/backend/opensex";
loadmodule "modules/crypto/pbkdf2v2";
loadmodule "modules/nickserv/main";
loadmodule "modules/nickserv/identify";
loadmodule "modules/saslserv/main";
loadmodule "modules/saslserv/plain";
serverinfo {{
    name = "services.regis.test"; desc = "Regis test services"; numeric = "00A"; recontime = 1;
    netname = "RegisTest"; hidehostsuffix = "users.regis.test"; adminname = "test";
    adminemail = "test@regis.test"; registeremail = "noreply@regis.test";
    loglevel = {{ error; info; admin; network; }};
    maxlogins = 50; maxusers = 50; mdlimit = 30; emaillimit = 10; emailtime = 300;
    auth = none; casemapping = rfc1459;
}};
uplink "irc.regis.test" {{
    host = "127.0.0.1"; port = {link}; send_password = "link-{link}"; receive_password = "link-{link}";
}};
nickserv {{ nick = "NickServ"; user = "NickServ"; host = "services.regis.test"; real = "Nickname Services"; maxnicks = 5; expire = 0; }};
saslserv {{ nick = "SaslServ"; user = "SaslServ"; host = "services.regis.test"; real = "SASL Authentication Agent"; }};
logfile "{log}" {{ error; info; admin; network; }};
general {{
    flood_msgs = 0; flood_time = 10; ratelimit_uses = 0; ratelimit_period = 60; kline_time = 7;
    commit_interval = 1; default_clone_allowed = 1000; default_clone_warn = 1000;
    uplink_sendq_limit = 1048576; language = "en"; immune_level = immune;
}};
"#,
        log = dir.join("atheme.log").display(),
    )
}
