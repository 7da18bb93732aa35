//! The documentation's code, checked: every ```rust block of the README and of the guide is
//! compiled (and run, unless marked `no_run`) as a doctest of this crate, and
//! `tests/blocks.rs` checks the blocks of every other language. Nothing here is for use.
//!
//! A page is listed here once; `tests/blocks.rs` fails when a Markdown file under `docs/` is
//! missing from this list.

#![cfg_attr(not(doctest), allow(unused))]

/// Declares one doctest item per page: its ```rust blocks become doctests.
macro_rules! pages {
    ($($name:ident => $path:literal),* $(,)?) => {
        $(
            #[cfg(doctest)]
            #[doc = include_str!($path)]
            pub struct $name;
        )*
        /// The pages whose Rust blocks are compiled, relative to the workspace.
        pub const PAGES: &[&str] = &[$($path),*];
    };
}

pages! {
    Readme => "../../README.md",
    Guide => "../guide/README.md",
    GettingStarted => "../guide/getting-started.md",
    Playground => "../guide/playground.md",
    Plugins => "../guide/plugins.md",
    TimersAndSchedules => "../guide/timers-and-schedules.md",
    Scripts => "../guide/scripts.md",
    Testing => "../guide/testing.md",
    Ranks => "../guide/ranks.md",
    YourOwnBot => "../guide/your-own-bot.md",
    Configuration => "../guide/configuration.md",
    Discord => "../guide/discord.md",
    Irc => "../guide/irc.md",
    Chatops => "../guide/chatops.md",
    Trivia => "../guide/trivia.md",
    Mandala => "../guide/mandala.md",
    Operations => "../guide/operations.md",
    ScaleOut => "../guide/scale-out.md",
    Architecture => "../guide/architecture.md",
    Deploy => "../deploy.md",
    Benchmarks => "../benchmarks.md",
}
