//! The answer to `!mando`: a line of parameters, an embed showing the image, and the PNG.

use mandala::{MandalaSpec, Png};
use regis::prelude::*;

/// The command that draws the same image again: the seed and the options the user gave, e.g.
/// `!mando 42` or `!mando 42 rings=10 style=bezier`.
pub(crate) fn again_command(prefix: &str, spec: &MandalaSpec, style: Option<&str>) -> String {
    let mut command = format!("{prefix}mando {}", spec.seed);
    if let Some(symmetry) = spec.symmetry {
        command.push_str(&format!(" symmetry={symmetry}"));
    }
    if let Some(rings) = spec.rings {
        command.push_str(&format!(" rings={rings}"));
    }
    if let Some(style) = style {
        command.push_str(&format!(" style={style}"));
    }
    command
}

/// The reply: text with the parameters, an embed titled with the seed whose image is the
/// attachment, or `public_url` when the image was archived there (then nothing is attached).
pub(crate) fn build(png: Png, again: &str, public_url: Option<String>) -> Reply {
    let params = &png.params;
    let name = format!("mandala-{}.png", params.seed);
    let mut embed = Embed::titled(format!("Mandala, seed {}", params.seed)).description(format!(
        "symmetry {}, {} rings, {} · `{again}` draws it again",
        params.symmetry, params.rings, params.style
    ));
    embed.color = params.ring_colours.first().map(|c| u32::from_be_bytes([0, c.r, c.g, c.b]));
    let reply = Reply::text(format!("Mandala: {params}"));
    match public_url {
        Some(url) => reply.embed(embed.image(url)),
        None => reply.embed(embed.image(format!("attachment://{name}"))).attach(Attachment::new(name, png.bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn again_names_only_what_was_given() {
        assert_eq!(again_command("!", &MandalaSpec::new(42), None), "!mando 42");
        let spec = MandalaSpec { rings: Some(10), symmetry: Some(7), ..MandalaSpec::new(5) };
        assert_eq!(again_command("?", &spec, Some("bezier")), "?mando 5 symmetry=7 rings=10 style=bezier");
    }

    #[test]
    fn reply_attaches_or_links() {
        let spec = MandalaSpec { width: 64, height: 48, ..MandalaSpec::new(3) };
        let png = mandala::render_png(&spec).unwrap();
        let attached = build(png.clone(), "!mando 3", None);
        assert_eq!(attached.text, format!("Mandala: {}", png.params));
        assert_eq!(attached.attachments.len(), 1);
        assert_eq!(attached.attachments[0].name, "mandala-3.png");
        assert_eq!(attached.attachments[0].content_type, "image/png");
        assert_eq!(attached.embeds[0].image_url.as_deref(), Some("attachment://mandala-3.png"));
        assert!(attached.embeds[0].color.is_some());
        let linked = build(png, "!mando 3", Some("https://cdn.example/mandalas/3-x.png".into()));
        assert!(linked.attachments.is_empty());
        assert_eq!(linked.embeds[0].image_url.as_deref(), Some("https://cdn.example/mandalas/3-x.png"));
    }
}
