// Parameters of every kind, for the fuzz targets (included by each).

use regis_core::command::{ChoiceOption, ParamKind, ParamSpec, Rest};
use regis_core::{ChannelRef, UserRef};

/// One parameter of each kind, optional ones after the required, a rest-of-line last.
pub fn all() -> Vec<ParamSpec> {
    let style = ParamSpec {
        name: "style".into(),
        description: "style".into(),
        kind: ParamKind::Choice {
            choices: ["fill", "bezier"]
                .iter()
                .map(|v| ChoiceOption { name: v.to_string(), value: v.to_string() })
                .collect(),
        },
        required: false,
        autocomplete: false,
    };
    vec![
        ParamSpec::of::<UserRef>("user", "who"),
        ParamSpec::of::<u8>("count", "how many").min(1.0).max(20.0),
        ParamSpec::of::<Option<f64>>("ratio", "how much"),
        ParamSpec::of::<Option<bool>>("loud", "whether"),
        ParamSpec::of::<Option<ChannelRef>>("channel", "where"),
        ParamSpec::of::<Option<String>>("name", "what").min(2.0).max(8.0),
        style,
        ParamSpec::of::<Option<Rest>>("text", "the rest"),
    ]
}
