//! `my-bot`: the whole `regis` command line (console, run, serve, commands, ...) with the
//! admin plugin and `Greet`.

fn main() -> std::process::ExitCode {
    regis_bot::App::new("my-bot").plugin(my_bot::Greet).run()
}
