//! Commands for `scripts/bench` only (the `bench-commands` feature; never in a release bot):
//! `/wait`, a handler bound by I/O rather than CPU, like one that calls an outside API.

use regis::prelude::*;
use std::time::Duration;

/// The benchmark's commands.
pub struct Bench;

/// Commands for benchmarks.
#[plugin(name = "bench")]
impl Bench {
    /// Wait 200 ms, as a call to an outside API would, then answer.
    #[command]
    async fn wait(&self, _ctx: &Ctx) -> Result<&'static str> {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok("waited")
    }
}
