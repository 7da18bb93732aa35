//! One IRC connection at a time, kept up: connect, negotiate capabilities and log in with SASL
//! when configured ([`crate::login`]), register (a fallback nick on collision),
//! join the channels, answer the server's PINGs and send our own to notice a silent server,
//! rejoin after a kick, and after any drop connect again with a growing backoff.

use crate::channels::Channels;
use crate::config::IrcConfig;
use crate::flood::Flood;
use crate::inbound::message_envelope;
use crate::lookups::Lookups;
use irc_proto::{Command, Message, Response};
use regis_core::Ingress;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Mutex};
use tokio_rustls::rustls::pki_types::ServerName;

/// How a connection ended.
enum Ended {
    /// The bot is stopping.
    Shutdown,
    /// The connection dropped or the server went silent; connect again.
    Lost(String),
}

/// Runs connections until `stop` is set.
pub(crate) async fn run(
    config: IrcConfig,
    tls: Option<tokio_rustls::TlsConnector>,
    us: Arc<crate::IrcConnector>,
    lines: Arc<Mutex<mpsc::UnboundedReceiver<String>>>,
    ingress: Ingress,
    mut stop: watch::Receiver<bool>,
) {
    let (nick, lookups, channels) = (&us.nick, &us.lookups, &us.channels);
    let mut backoff = Duration::from_secs(1);
    loop {
        let ended = tokio::select! {
            ended = connection(&config, tls.as_ref(), nick, lookups, channels, &lines, &ingress) => ended,
            _ = stop.wait_for(|s| *s) => Ended::Shutdown,
        };
        match ended {
            Ended::Shutdown => return,
            Ended::Lost(why) => {
                channels.reset();
                tracing::warn!(server = %config.server, reason = %why, retry_in_ms = backoff.as_millis() as u64, "IRC connection lost; connecting again");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                backoff = (backoff * 2).min(config.reconnect_max);
            }
        }
    }
}

async fn connection(
    config: &IrcConfig,
    tls: Option<&tokio_rustls::TlsConnector>,
    nick: &RwLock<String>,
    lookups: &Lookups,
    channels: &Channels,
    lines: &Mutex<mpsc::UnboundedReceiver<String>>,
    ingress: &Ingress,
) -> Ended {
    let stream = match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&config.server)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Ended::Lost(format!("cannot connect: {e}")),
        Err(_) => return Ended::Lost("cannot connect: no answer in 10 s".into()),
    };
    let (read, mut write): (Box<dyn AsyncRead + Send + Unpin>, Box<dyn AsyncWrite + Send + Unpin>) = match tls {
        Some(tls) => {
            let host = config.server.rsplit_once(':').map_or(config.server.as_str(), |(host, _)| host);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name = match ServerName::try_from(host.to_string()) {
                Ok(name) => name,
                Err(e) => return Ended::Lost(format!("`{host}` is not a TLS server name: {e}")),
            };
            match tokio::time::timeout(Duration::from_secs(10), tls.connect(name, stream)).await {
                Ok(Ok(stream)) => {
                    let (read, write) = tokio::io::split(stream);
                    (Box::new(read), Box::new(write))
                }
                Ok(Err(e)) => return Ended::Lost(format!("TLS handshake failed: {e}")),
                Err(_) => return Ended::Lost("TLS handshake: no answer in 10 s".into()),
            }
        }
        None => {
            let (read, write) = stream.into_split();
            (Box::new(read), Box::new(write))
        }
    };
    let mut read = BufReader::new(read);
    // What must go at once (registration, PONG, JOIN), before anything flood-controlled.
    let (urgent, mut urgent_rx) = mpsc::unbounded_channel::<String>();
    let mut attempt = 0usize;
    let mut wanted = config.nick.clone();
    let mut login = crate::login::Login::new(config.sasl.clone());
    let _ = urgent.send(login.start().to_string());
    let _ = urgent.send(format!("NICK {wanted}"));
    let _ = urgent.send(format!("USER regis 0 * :{}", config.realname));
    let mut registered = false;
    let mut flood = Flood::new(config.flood_burst, config.flood_per_second);
    let mut queue = lines.lock().await;
    let mut line = String::new();
    let mut last_heard = tokio::time::Instant::now();
    let mut pinged = false;
    let mut ping = tokio::time::interval(config.ping_interval);
    ping.tick().await;
    loop {
        tokio::select! {
            biased;
            Some(out) = urgent_rx.recv() => {
                if let Err(e) = write.write_all(format!("{out}\r\n").as_bytes()).await {
                    return Ended::Lost(format!("cannot write: {e}"));
                }
            }
            read_result = read.read_line(&mut line) => {
                match read_result {
                    Ok(0) => return Ended::Lost("the server closed the connection".into()),
                    Ok(_) => {}
                    Err(e) => return Ended::Lost(format!("cannot read: {e}")),
                }
                last_heard = tokio::time::Instant::now();
                pinged = false;
                let text = line.trim_end_matches(['\r', '\n']).to_string();
                line.clear();
                let Ok(message) = Message::from_str(&text) else {
                    tracing::debug!(line = %text, "unreadable IRC line; skipped");
                    continue;
                };
                match login.on_message(&message) {
                    Ok(answers) => answers.into_iter().for_each(|answer| drop(urgent.send(answer))),
                    Err(why) => return Ended::Lost(why),
                }
                match &message.command {
                    Command::PING(server, _) => {
                        let _ = urgent.send(format!("PONG :{server}"));
                    }
                    Command::Response(Response::RPL_WELCOME, args) => {
                        registered = true;
                        let given = args.first().cloned().unwrap_or_else(|| wanted.clone());
                        *nick.write().unwrap_or_else(|e| e.into_inner()) = given.clone();
                        tracing::info!(server = %config.server, nick = %given, "IRC connection registered");
                        for channel in &config.channels {
                            let _ = urgent.send(format!("JOIN {channel}"));
                        }
                    }
                    Command::Response(Response::ERR_NICKNAMEINUSE | Response::ERR_NICKCOLLISION, _) if !registered => {
                        attempt += 1;
                        if attempt > 8 {
                            return Ended::Lost(format!("every nick from {} is taken", config.nick));
                        }
                        wanted = format!("{}{}", config.nick, "_".repeat(attempt));
                        let _ = urgent.send(format!("NICK {wanted}"));
                    }
                    Command::Response(Response::ERR_ERRONEOUSNICKNAME, _) if !registered => {
                        return Ended::Lost(format!("the server refuses the nick {wanted}"));
                    }
                    Command::NICK(new) => {
                        let Some(old) = message.source_nickname() else { continue };
                        channels.renamed(old, new);
                        if old == current(nick) {
                            *nick.write().unwrap_or_else(|e| e.into_inner()) = new.clone();
                        }
                    }
                    Command::KICK(channel, kicked, _) => {
                        let me = *kicked == current(nick);
                        channels.left(channel, kicked, me);
                        if me && config.rejoin_on_kick {
                            tracing::warn!(channel = %channel, "kicked from an IRC channel; joining again");
                            let _ = urgent.send(format!("JOIN {}", join_of(config, channel)));
                        }
                    }
                    Command::JOIN(list, _, _) | Command::PART(list, _) => {
                        let Some(who) = message.source_nickname() else { continue };
                        let me = who == current(nick);
                        for channel in list.split(',') {
                            if matches!(message.command, Command::JOIN(..)) {
                                channels.joined(channel, who, me);
                            } else {
                                channels.left(channel, who, me);
                            }
                        }
                    }
                    Command::QUIT(_) => {
                        if let Some(who) = message.source_nickname() {
                            channels.quit(who);
                        }
                    }
                    Command::TOPIC(channel, topic) => channels.topic(channel, topic.as_deref()),
                    Command::Response(Response::RPL_TOPIC, args) => {
                        if let [_, channel, topic, ..] = args.as_slice() {
                            channels.topic(channel, Some(topic));
                        }
                    }
                    Command::Response(Response::RPL_LIST, args) => {
                        // me, the channel, how many are in it, the topic
                        if let [_, channel, _, topic, ..] = args.as_slice() {
                            channels.topic(channel, Some(topic));
                        }
                    }
                    Command::Response(Response::RPL_NOTOPIC, args) => {
                        if let Some(channel) = args.get(1) {
                            channels.topic(channel, None);
                        }
                    }
                    Command::Response(Response::RPL_NAMREPLY, args) => {
                        // me, the channel's kind (= * @), the channel, the names
                        if let [_, _, channel, names, ..] = args.as_slice() {
                            channels.names(channel, names);
                        }
                    }
                    Command::Response(Response::RPL_ENDOFNAMES, args) => {
                        if let Some(channel) = args.get(1) {
                            channels.end_of_names(channel);
                        }
                    }
                    Command::Response(Response::ERR_NOSUCHCHANNEL, args) => {
                        if let Some(channel) = args.get(1) {
                            channels.no_such_channel(channel);
                        }
                    }
                    Command::PRIVMSG(target, text) => {
                        let Some(sender) = message.source_nickname() else { continue };
                        if let Some(envelope) = message_envelope(sender, target, text, &current(nick), ingress.prefix()) {
                            if let Err(e) = ingress.submit(envelope).await {
                                tracing::warn!(error = %e, "cannot queue an IRC message");
                            }
                        }
                    }
                    Command::Response(Response::RPL_WHOISUSER, args) => {
                        if let Some(who) = args.get(1) {
                            lookups.user(who);
                        }
                    }
                    Command::Response(Response::RPL_ENDOFWHOIS | Response::ERR_NOSUCHNICK, args) => {
                        if let Some(who) = args.get(1) {
                            lookups.end(who);
                        }
                    }
                    Command::ERROR(why) => return Ended::Lost(format!("the server says: {why}")),
                    _ => {}
                }
            }
            Some(out) = queue.recv(), if registered => {
                let wait = flood.take();
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                if let Err(e) = write.write_all(format!("{out}\r\n").as_bytes()).await {
                    return Ended::Lost(format!("cannot write: {e}"));
                }
            }
            _ = ping.tick() => {
                let silent = last_heard.elapsed();
                if pinged && silent >= config.ping_interval + config.ping_timeout {
                    return Ended::Lost(format!("no answer from the server for {} s", silent.as_secs()));
                }
                if silent >= config.ping_interval {
                    pinged = true;
                    let _ = urgent.send("PING :regis".to_string());
                }
            }
        }
    }
}

fn current(nick: &RwLock<String>) -> String {
    nick.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The JOIN argument for `channel`, with its key when configured.
fn join_of(config: &IrcConfig, channel: &str) -> String {
    config
        .channels
        .iter()
        .find(|c| c.split(' ').next().is_some_and(|name| name.eq_ignore_ascii_case(channel)))
        .cloned()
        .unwrap_or_else(|| channel.to_string())
}
