//! What the IRC tests share: a bot on a real server.

use regis_core::{Bot, CoreConfig, Plugin};
use regis_irc::{Irc, IrcConfig};
use tokio::sync::watch;

/// A bot with the admin plugin and `plugin` connected with `config` (joining `#regis` unless
/// `config` names channels); the sender stops its connection, the directory holds its data.
pub async fn irc_bot(mut config: IrcConfig, plugin: impl Plugin) -> (Bot, watch::Sender<bool>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    if config.channels.is_empty() {
        config.channels = vec!["#regis".into()];
    }
    let irc = Irc::new(config).expect("the TLS settings");
    let bot = Bot::builder(CoreConfig::default())
        .storage(regis_store::SqliteBackend::new(dir.path()))
        .plugin(regis_core::admin::Admin)
        .plugin(plugin)
        .connector(irc.connector())
        .start()
        .await
        .unwrap();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(irc.run(bot.ingress(), stopped));
    (bot, stop, dir)
}
