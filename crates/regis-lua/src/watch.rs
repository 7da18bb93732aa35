//! Scripts reloaded when their files change: a new `.lua` file is loaded, a changed one read
//! again (the running version stays if it does not load), a removed one unloaded. Changes are
//! gathered for [`DEBOUNCE`], so an editor's several writes of one save are one reload.

use notify::{RecursiveMode, Watcher as _};
use regis_core::{Followed, PluginControl};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long changes are gathered before they are applied.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Watches a script directory while it lives.
pub struct ScriptWatcher {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The plugin a changed path is the script of (`dir/NAME.lua`), if any.
fn script_name(path: &Path) -> Option<String> {
    (path.extension()? == "lua").then(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))?
}

impl ScriptWatcher {
    /// Watches `dir` and brings the bot's plugins in line with it through `control`. Must be
    /// called inside a Tokio runtime.
    pub fn start(dir: &Path, control: PluginControl) -> notify::Result<ScriptWatcher> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) => {
                for path in event.paths {
                    let _ = tx.send(path);
                }
            }
            Err(e) => tracing::warn!(error = %e, "watching the script directory"),
        })?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut names = BTreeSet::new();
                names.extend(script_name(&first));
                let gather = tokio::time::sleep(DEBOUNCE);
                tokio::pin!(gather);
                loop {
                    tokio::select! {
                        () = &mut gather => break,
                        more = rx.recv() => match more {
                            Some(path) => { names.extend(script_name(&path)); }
                            None => break,
                        },
                    }
                }
                for name in names {
                    match control.changed(&name).await {
                        Ok(Followed::Nothing) => {}
                        Ok(done) => tracing::info!(plugin = %name, "script file changed: {done:?}"),
                        Err(e) => tracing::error!(plugin = %name, "script file changed, but: {e}"),
                    }
                }
            }
        });
        Ok(ScriptWatcher { _watcher: watcher, task })
    }
}
