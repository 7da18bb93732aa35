//! What handlers answer with: text, embeds and attachments.

use serde::{Deserialize, Serialize};

/// A message the bot sends: text, embeds and attachments. A connector that cannot show one of
/// them gets a degraded copy (see [`Reply::degrade`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Plain text (may be empty when there are embeds or attachments).
    pub text: String,
    /// Rich embeds.
    pub embeds: Vec<Embed>,
    /// Files.
    pub attachments: Vec<Attachment>,
    /// Visible only to the invoker, where the connector supports it (Discord interactions).
    pub ephemeral: bool,
    /// Buttons; a click comes back to the plugin that sent them (`#[component("id")]`).
    #[serde(default)]
    pub buttons: Vec<Button>,
}

/// A button under a message. Its id is namespaced with the sending plugin's name when sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Button {
    /// What the button says.
    pub label: String,
    /// The id the plugin's `#[component]` handler receives (at most 100 characters with the
    /// plugin name).
    pub custom_id: String,
}

/// A rich block: title, description, fields, image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Embed {
    /// Title line.
    pub title: Option<String>,
    /// Body text.
    pub description: Option<String>,
    /// Name/value pairs.
    pub fields: Vec<EmbedField>,
    /// An image URL; `attachment://NAME` refers to an attachment of the same reply.
    pub image_url: Option<String>,
    /// Accent colour as 0xRRGGBB.
    pub color: Option<u32>,
}

/// One name/value pair of an [`Embed`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbedField {
    /// Field name.
    pub name: String,
    /// Field value.
    pub value: String,
}

/// A file sent with a reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name, such as `mandala-42.png`.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes.
    pub data: Vec<u8>,
}

impl Reply {
    /// A text-only reply.
    pub fn text(text: impl Into<String>) -> Self {
        Reply { text: text.into(), ..Reply::default() }
    }

    /// Adds an embed.
    pub fn embed(mut self, embed: Embed) -> Self {
        self.embeds.push(embed);
        self
    }

    /// Adds an attachment.
    pub fn attach(mut self, attachment: Attachment) -> Self {
        self.attachments.push(attachment);
        self
    }

    /// Adds a button; a click reaches this plugin's `#[component]` handler for `custom_id`.
    pub fn button(mut self, label: impl Into<String>, custom_id: impl Into<String>) -> Self {
        self.buttons.push(Button { label: label.into(), custom_id: custom_id.into() });
        self
    }

    /// Marks the reply as visible only to the invoker.
    pub fn ephemeral(mut self) -> Self {
        self.ephemeral = true;
        self
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.embeds.is_empty() && self.attachments.is_empty() && self.buttons.is_empty()
    }

    /// A copy a connector with the given abilities can show: embeds it cannot show become text,
    /// attachments it cannot send become a line naming the file and its size, buttons it cannot
    /// show become a line naming them.
    pub fn degrade(mut self, caps: &crate::connector::Capabilities) -> Self {
        let (embeds, attachments) = (caps.embeds, caps.attachments);
        let mut lines: Vec<String> = Vec::new();
        if !embeds {
            for embed in std::mem::take(&mut self.embeds) {
                lines.extend(embed.to_text_lines());
            }
        }
        if !attachments {
            for file in std::mem::take(&mut self.attachments) {
                lines.push(format!(
                    "[file {} ({}, {} bytes): files cannot be shown here]",
                    file.name,
                    file.content_type,
                    file.data.len()
                ));
            }
        }
        if !caps.buttons && !self.buttons.is_empty() {
            let labels: Vec<String> = std::mem::take(&mut self.buttons).into_iter().map(|b| b.label).collect();
            lines.push(format!("[buttons: {}]", labels.join(" | ")));
        }
        if !lines.is_empty() {
            if !self.text.is_empty() {
                self.text.push('\n');
            }
            self.text.push_str(&lines.join("\n"));
        }
        self
    }
}

impl Embed {
    /// An embed with a title.
    pub fn titled(title: impl Into<String>) -> Self {
        Embed { title: Some(title.into()), ..Embed::default() }
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Adds a field.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push(EmbedField { name: name.into(), value: value.into() });
        self
    }

    /// Sets the image URL (`attachment://NAME` for an attachment of the same reply).
    pub fn image(mut self, url: impl Into<String>) -> Self {
        self.image_url = Some(url.into());
        self
    }

    /// The embed as plain text lines, for connectors without embeds.
    pub fn to_text_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(title) = &self.title {
            lines.push(format!("== {title} =="));
        }
        if let Some(description) = &self.description {
            lines.push(description.clone());
        }
        for field in &self.fields {
            lines.push(format!("{}: {}", field.name, field.value));
        }
        if let Some(url) = &self.image_url {
            if !url.starts_with("attachment://") {
                lines.push(url.clone());
            }
        }
        lines
    }
}

impl Attachment {
    /// An attachment with a content type guessed from the file name's extension.
    pub fn new(name: impl Into<String>, data: Vec<u8>) -> Self {
        let name = name.into();
        let content_type = content_type_for(&name).to_string();
        Attachment { name, content_type, data }
    }
}

fn content_type_for(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "txt" | "log" => "text/plain",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// What a command handler may return: anything that becomes a [`Reply`].
pub trait IntoReply {
    /// Converts into the reply to send (an empty reply sends nothing).
    fn into_reply(self) -> Reply;
}

impl IntoReply for Reply {
    fn into_reply(self) -> Reply {
        self
    }
}

impl IntoReply for String {
    fn into_reply(self) -> Reply {
        Reply::text(self)
    }
}

impl IntoReply for &str {
    fn into_reply(self) -> Reply {
        Reply::text(self)
    }
}

impl IntoReply for () {
    fn into_reply(self) -> Reply {
        Reply::default()
    }
}

impl<T: IntoReply> IntoReply for Option<T> {
    fn into_reply(self) -> Reply {
        self.map(IntoReply::into_reply).unwrap_or_default()
    }
}

impl From<&str> for Reply {
    fn from(text: &str) -> Self {
        Reply::text(text)
    }
}

impl From<String> for Reply {
    fn from(text: String) -> Self {
        Reply::text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrade_turns_embeds_and_files_into_text() {
        let reply = Reply::text("here")
            .embed(Embed::titled("Mandala").field("seed", "42"))
            .attach(Attachment::new("m.png", vec![1, 2, 3]));
        let none = crate::connector::Capabilities { embeds: false, attachments: false, buttons: false };
        let all = crate::connector::Capabilities { embeds: true, attachments: true, buttons: true };
        let plain = reply.clone().button("Again", "again").degrade(&none);
        assert!(plain.embeds.is_empty() && plain.attachments.is_empty());
        assert_eq!(
            plain.text,
            "here\n== Mandala ==\nseed: 42\n[file m.png (image/png, 3 bytes): files cannot be shown here]\n[buttons: Again]"
        );
        assert_eq!(reply.clone().degrade(&all), reply);
    }
}
