//! An interaction body, as a correctly signed request may carry anything: it is read into a
//! PING or an envelope, or refused with a reason, and never panics; an envelope's options then
//! go through the slash-command parser of a command with every parameter kind.

#![no_main]

use libfuzzer_sys::fuzz_target;
use regis_core::command::parse_options;
use regis_core::EnvelopeKind;
use regis_discord::{read_interaction, Incoming};

fuzz_target!(|body: &[u8]| {
    if let Ok(Incoming::Envelope(envelope)) = read_interaction(body, 1_700_000_000_000) {
        if let EnvelopeKind::Command { options, .. } = &envelope.kind {
            let _ = parse_options(&regis_fuzz_params::all(), options, &envelope.source);
        }
        let _ = serde_json::to_string(&envelope);
    }
});

mod regis_fuzz_params {
    include!("params.rs");
}
