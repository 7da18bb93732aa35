//! `!mando` through a real bot: the image, its determinism, the argument checks, the schema.

use mandala::MandalaSpec;
use regis::{Attachment, Reply};
use regis_plugin_mandala::Mandala;
use regis_testkit::TestBot;

/// The one reply of an invocation.
async fn mando(bot: &TestBot, user: &str, text: &str) -> Reply {
    let replies = bot.send_as(user, text).await;
    assert_eq!(replies.len(), 1, "{text}: {replies:?}");
    replies.0.into_iter().next().map(|s| s.reply).expect("one reply")
}

fn only_attachment(reply: &Reply) -> &Attachment {
    assert_eq!(reply.attachments.len(), 1, "{}", reply.text);
    &reply.attachments[0]
}

/// Width and height of a PNG, decoded in full.
fn decode(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(bytes);
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).expect("PNG pixels");
    (info.width, info.height)
}

#[tokio::test]
async fn a_seed_draws_the_renderers_image() {
    let bot = TestBot::with(Mandala::default()).await;
    let reply = mando(&bot, "ann", "!mando 42").await;
    let file = only_attachment(&reply);
    assert_eq!(file.name, "mandala-42.png");
    assert_eq!(file.content_type, "image/png");
    assert_eq!(decode(&file.data), (1280, 960));
    let expected = mandala::render_png(&MandalaSpec::new(42)).unwrap();
    assert!(file.data == expected.bytes, "same seed, same bytes as the renderer");
    assert_eq!(reply.text, format!("Mandala: {}", expected.params));
    let embed = &reply.embeds[0];
    assert_eq!(embed.title.as_deref(), Some("Mandala, seed 42"));
    assert_eq!(embed.image_url.as_deref(), Some("attachment://mandala-42.png"));
    let description = embed.description.as_deref().unwrap_or_default();
    assert!(description.ends_with("`!mando 42` draws it again"), "{description}");
    assert!(description.contains(&format!("symmetry {}", expected.params.symmetry)), "{description}");

    let again = mando(&bot, "ann", "!mando 42").await;
    assert!(only_attachment(&again).data == file.data, "asking again draws the same image");
}

#[tokio::test]
async fn without_a_seed_every_image_differs() {
    let bot = TestBot::with(Mandala::default()).await;
    let a = mando(&bot, "ann", "!mando").await;
    let b = mando(&bot, "ann", "!mando").await;
    assert_ne!(only_attachment(&a).name, only_attachment(&b).name);
    assert!(only_attachment(&a).data != only_attachment(&b).data);
    assert!(a.text.starts_with("Mandala: seed "), "{}", a.text);
}

#[tokio::test]
async fn options_by_name_and_by_type() {
    let bot = TestBot::with(Mandala::default()).await;
    let reply = mando(&bot, "ann", "!mando style=bezier rings=10").await;
    assert!(reply.text.ends_with(", 10 rings, bezier"), "{}", reply.text);
    only_attachment(&reply);
    let description = reply.embeds[0].description.clone().unwrap_or_default();
    assert!(description.contains(" rings=10 style=bezier` draws it again"), "{description}");

    let reply = mando(&bot, "ann", "!mando 7 fill").await;
    assert!(reply.text.ends_with(" rings, fill") && reply.text.starts_with("Mandala: seed 7,"), "{}", reply.text);
    let spec =
        MandalaSpec { symmetry: Some(5), rings: Some(4), style: Some(mandala::Style::Fill), ..MandalaSpec::new(9) };
    let reply = mando(&bot, "ann", "!mando 9 5 4 fill").await;
    assert!(only_attachment(&reply).data == mandala::render_png(&spec).unwrap().bytes);
    assert!(reply.embeds[0]
        .description
        .as_deref()
        .unwrap_or_default()
        .contains("`!mando 9 symmetry=5 rings=4 style=fill`"));
}

#[tokio::test]
async fn out_of_range_arguments_get_the_usage_line() {
    let bot = TestBot::with(Mandala::default()).await;
    let usage = "Usage: !mando [seed] [symmetry] [rings] [style: fill|bezier]";
    assert_eq!(
        bot.send_as("ann", "!mando 42 25").await.text(),
        format!("`symmetry` must be integer 3..=20, got 25\n{usage}")
    );
    assert_eq!(
        bot.send_as("bob", "!mando 42 2").await.text(),
        format!("`symmetry` must be integer 3..=20, got 2\n{usage}")
    );
    assert_eq!(
        bot.send_as("cat", "!mando rings=20").await.text(),
        format!("`rings` must be integer 4..=19, got 20\n{usage}")
    );
    let reply = bot.send_as("dan", "!mando 1 3 4 wavy").await.text();
    assert!(reply.contains("wavy") && reply.ends_with(usage), "{reply}");
    let reply = bot.send_as("eve", "!mando -5").await.text();
    assert!(reply.ends_with(usage), "{reply}");
}

#[tokio::test]
async fn slash_command_schema_has_ranges_and_choices() {
    let bot = TestBot::with(Mandala::default()).await;
    let schema = bot
        .bot()
        .commands()
        .into_iter()
        .find(|(_, spec)| spec.name == "mando")
        .map(|(_, spec)| spec.to_discord_json())
        .expect("a mando command");
    assert_eq!(schema["name"], "mando");
    assert!(schema["description"].as_str().is_some_and(|d| !d.is_empty() && d.len() <= 100));
    let options = schema["options"].as_array().expect("options");
    assert_eq!(options.len(), 4);
    let names: Vec<&str> = options.iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(names, ["seed", "symmetry", "rings", "style"]);
    assert!(options.iter().all(|o| o["required"] == false));
    assert!(options.iter().all(|o| o["description"].as_str().is_some_and(|d| !d.is_empty() && d.len() <= 100)));
    assert_eq!((options[0]["type"].as_i64(), options[0]["min_value"].as_i64()), (Some(4), Some(0)));
    assert_eq!((options[1]["min_value"].as_i64(), options[1]["max_value"].as_i64()), (Some(3), Some(20)));
    assert_eq!((options[2]["min_value"].as_i64(), options[2]["max_value"].as_i64()), (Some(4), Some(19)));
    assert_eq!(options[3]["type"], 3);
    assert_eq!(
        options[3]["choices"],
        serde_json::json!([{"name": "fill", "value": "fill"}, {"name": "bezier", "value": "bezier"}])
    );
}

#[tokio::test]
async fn help_explains_the_command() {
    let bot = TestBot::with(Mandala::default()).await;
    let help = bot.send("!help mando").await.text();
    assert!(help.contains("Usage: !mando [seed] [symmetry] [rings] [style: fill|bezier]"), "{help}");
    assert!(
        help.contains("symmetry   how many times the pattern repeats around the centre (integer 3..=20)"),
        "{help}"
    );
    assert!(help.contains("plugin mandala"), "{help}");
}

#[tokio::test]
async fn the_largest_seed_is_the_command_lines_largest_too() {
    let bot = TestBot::with(Mandala::default()).await;
    let refused = bot.send(&format!("!mando {}", mandala::MAX_SEED + 1)).await.text();
    assert!(refused.contains(&format!("0..={}", mandala::MAX_SEED)), "{refused}");
}
