//! The `regis` binary: an [`App`](regis_bot::App) with the built-in plugins.

fn main() -> std::process::ExitCode {
    let app = regis_bot::App::new("regis")
        .about("Regis: a bot for Discord, IRC and ChatOps, with plugins in Rust")
        .builtin_plugins();
    #[cfg(feature = "bench-commands")]
    let app = app.plugin(regis_bot::bench_plugin::Bench);
    app.run()
}
