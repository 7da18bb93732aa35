// The Regis playground page: a Discord-like channel view over a websocket to `regis dev`.
// Everything shown comes from the server: the messages are what the fake Discord received from
// the bot, and the log is what went in and out. No build step: plain browser JavaScript.
"use strict";

const state = {
  bot: null, people: [], channels: [], commands: [], plugins: [],
  speaker: null, channel: null, messages: new Map(), socket: null, pickerItems: [], pickerIndex: -1,
};
const $ = (id) => document.getElementById(id);

// ---- connection ----

function connect() {
  const socket = new WebSocket(`ws://${location.host}/dev/ws`);
  state.socket = socket;
  socket.onopen = () => setStatus("live", "connected to regis dev");
  socket.onclose = () => {
    setStatus("down", "disconnected: retrying…");
    setTimeout(connect, 1000);
  };
  socket.onmessage = (event) => receive(JSON.parse(event.data));
}

function send(message) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify(message));
  } else {
    notice("not connected to regis dev");
  }
}

function setStatus(kind, text) {
  const status = $("status");
  status.className = `status ${kind}`;
  status.textContent = text;
}

function receive(event) {
  switch (event.kind) {
    case "hello":
      state.bot = event.bot;
      state.channels = event.channels;
      state.commands = event.commands;
      state.people = event.people;
      state.plugins = event.plugins;
      state.messages.clear();
      $("log").textContent = "";
      if (!state.speaker) state.speaker = event.people[0].id;
      if (!state.channel) state.channel = event.channels[0].id;
      renderAll();
      break;
    case "message":
      state.messages.set(event.message.id, event.message);
      // As many as the playground keeps: the oldest go first (a Map keeps insertion order).
      while (state.messages.size > 500) state.messages.delete(state.messages.keys().next().value);
      renderMessages();
      break;
    case "delete":
      state.messages.delete(event.id);
      renderMessages();
      break;
    case "log":
      log(event);
      break;
    case "state":
      state.people = event.people;
      state.plugins = event.plugins;
      state.commands = event.commands;
      renderPanel();
      break;
    case "notice":
      notice(event.text);
      break;
    case "choices":
      if (event.text === $("composer").value) showChoices(event.choices);
      break;
    case "reload":
      location.reload();
      break;
  }
}

// ---- rendering ----

function renderAll() {
  renderChannels();
  renderPanel();
  renderMessages();
}

function renderChannels() {
  const list = $("channels");
  list.textContent = "";
  for (const channel of state.channels) {
    const link = element("a", "channel", `# ${channel.name}`);
    link.href = "#";
    link.dataset.channel = channel.id;
    link.onclick = (e) => { e.preventDefault(); switchChannel(channel.id); };
    list.append(link);
  }
  $("dm-link").onclick = (e) => { e.preventDefault(); switchChannel("dm"); };
  for (const link of document.querySelectorAll(".channel")) {
    link.classList.toggle("active", link.dataset.channel === state.channel);
  }
  const name = state.channel === "dm" ? `@ ${state.bot ? state.bot.name : "Regis"} (as ${speakerName()})` : `# ${channelName(state.channel)}`;
  $("channel-name").textContent = name;
  $("composer").placeholder = state.channel === "dm"
    ? `Message @${state.bot ? state.bot.name : "Regis"}`
    : `Message #${channelName(state.channel)} — try !roll 2d6, /mando seed:1 or @Regis help`;
}

function switchChannel(channel) {
  state.channel = channel;
  renderChannels();
  renderMessages();
}

function channelName(id) {
  const channel = state.channels.find((c) => c.id === id);
  return channel ? channel.name : id;
}

function speakerName() {
  const person = state.people.find((p) => p.id === state.speaker);
  return person ? person.name : "?";
}

// The panel's rows are kept and updated in place, so that an update from the server (a rank
// changed by a command, a plugin switched elsewhere) never takes away what is being typed.
const rows = { people: new Map(), plugins: new Map() };

function renderPanel() {
  syncRows($("people"), rows.people, state.people, (p) => p.id, personRow);
  for (const person of state.people) {
    const row = rows.people.get(person.id);
    row.node.classList.toggle("active", person.id === state.speaker);
    row.radio.checked = person.id === state.speaker;
    if (document.activeElement !== row.rank) row.rank.value = person.rank;
  }
  const pluginKey = (p) => `${p.name}:${p.commands.join(",")}`;
  syncRows($("plugins"), rows.plugins, state.plugins, pluginKey, pluginRow);
  for (const plugin of state.plugins) rows.plugins.get(pluginKey(plugin)).box.checked = plugin.enabled;
}

/// Builds `container`'s rows again, one per item by `key`, only when the items themselves
/// changed (not their state).
function syncRows(container, kept, items, key, make) {
  const wanted = items.map(key).join(";");
  if (container.dataset.key === wanted) return;
  container.textContent = "";
  kept.clear();
  container.dataset.key = wanted;
  for (const item of items) {
    const row = make(item);
    kept.set(key(item), row);
    container.append(row.node);
  }
}

function personRow(person) {
  const node = element("div", "person");
  node.dataset.name = person.name;
  const radio = element("input");
  radio.type = "radio";
  radio.name = "speaker";
  radio.setAttribute("aria-label", `speak as ${person.name}`);
  radio.onchange = () => { state.speaker = person.id; renderPanel(); renderChannels(); renderMessages(); };
  node.append(radio, element("span", "name", person.owner ? `${person.name} (owner)` : person.name));
  const rank = element("input");
  rank.type = "number";
  rank.min = -1;
  rank.max = 999;
  rank.title = "rank: -1 banned … 999 owner";
  rank.setAttribute("aria-label", `rank of ${person.name}`);
  rank.disabled = person.owner;
  rank.onchange = () => {
    if (rank.value.trim() !== "") send({ type: "rank", user: person.id, rank: Number(rank.value) });
  };
  node.append(rank);
  node.onclick = (e) => { if (e.target === node) radio.click(); };
  return { node, radio, rank };
}

function pluginRow(plugin) {
  const node = element("label", "plugin");
  const box = element("input");
  box.type = "checkbox";
  box.dataset.plugin = plugin.name;
  box.onchange = () => send({ type: "plugin", name: plugin.name, enabled: box.checked });
  node.title = plugin.description;
  node.append(box, element("span", "", plugin.name), element("span", "commands", plugin.commands.join(", ")));
  return { node, box };
}

function visible(message) {
  if (message.ephemeral && message.for !== state.speaker) return false;
  if (state.channel === "dm") return message.dm_with === state.speaker;
  return !message.dm_with && message.channel_id === state.channel;
}

function renderMessages() {
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.textContent = "";
  for (const message of state.messages.values()) {
    if (visible(message)) list.append(renderMessage(message));
  }
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function renderMessage(m) {
  const node = element("div", "message");
  node.dataset.id = m.id;
  node.dataset.author = m.author.name;
  node.classList.toggle("thinking", m.thinking);
  node.classList.toggle("ephemeral", m.ephemeral);
  if (m.interaction) {
    node.append(element("div", "used", `${m.interaction.user} used ${withNames(m.interaction.label)}`));
  }
  if (m.reply_to) {
    const replied = state.messages.get(m.reply_to);
    if (replied) node.append(element("div", "reply-to", `↪ ${replied.author.name}: ${withNames(replied.content).slice(0, 80)}`));
  }
  const avatar = element("div", "avatar", m.author.name.slice(0, 1).toUpperCase());
  avatar.style.background = m.author.bot ? "#5865f2" : colour(m.author.name);
  const meta = element("div", "meta");
  meta.append(element("span", "author", m.author.name));
  if (m.author.bot) meta.append(element("span", "tag", "APP"));
  node.append(avatar, meta);
  const content = element("div", "content");
  if (m.thinking) {
    content.textContent = `${m.author.name} is thinking…`;
  } else {
    content.innerHTML = markdown(m.content || "");
  }
  if (m.edited) content.append(element("span", "edited", " (edited)"));
  node.append(content);
  for (const embed of m.embeds || []) node.append(renderEmbed(embed));
  for (const attachment of m.attachments || []) {
    if (attachment.in_embed) continue;
    const box = element("div", "attachment");
    if (attachment.image) {
      const img = element("img");
      img.src = attachment.url;
      img.alt = attachment.filename;
      box.append(img);
    } else {
      const link = element("a", "", `file: ${attachment.filename}`);
      link.href = attachment.url;
      link.download = attachment.filename;
      box.append(link);
    }
    node.append(box);
  }
  for (const row of m.components || []) {
    const buttons = element("div", "buttons");
    for (const component of row.components || []) {
      if (component.type !== 2) continue;
      if (component.url) {
        // Link buttons open http(s) addresses only: never a script on this page.
        const link = element("a", "", component.label || component.url);
        if (/^https?:\/\//i.test(component.url)) link.href = component.url;
        link.rel = "noopener noreferrer";
        link.target = "_blank";
        buttons.append(link);
        continue;
      }
      const button = element("button", "", component.label || "");
      button.type = "button";
      button.dataset.customId = component.custom_id;
      button.disabled = !!component.disabled;
      button.onclick = () => send({ type: "click", user: state.speaker, message: m.id, custom_id: component.custom_id });
      buttons.append(button);
    }
    node.append(buttons);
  }
  if (m.ephemeral) node.append(element("div", "ephemeral-note", "Only you can see this"));
  return node;
}

function renderEmbed(embed) {
  const box = element("div", "embed");
  if (typeof embed.color === "number") box.style.borderLeftColor = `#${embed.color.toString(16).padStart(6, "0")}`;
  if (embed.author && embed.author.name) box.append(element("div", "embed-author", embed.author.name));
  if (embed.title) box.append(element("div", "title", embed.title));
  if (embed.description) {
    const description = element("div", "description");
    description.innerHTML = markdown(embed.description);
    box.append(description);
  }
  if (embed.fields && embed.fields.length) {
    const fields = element("div", "fields");
    for (const field of embed.fields) {
      const node = element("div", field.inline ? "field" : "field wide");
      const value = element("div", "field-value");
      value.innerHTML = markdown(field.value || "");
      node.append(element("div", "field-name", field.name || ""), value);
      fields.append(node);
    }
    box.append(fields);
  }
  for (const part of ["image", "thumbnail"]) {
    // Only the playground's own copies of attached files are loaded; any other address is
    // shown as text and never fetched.
    if (embed[part] && embed[part].url && embed[part].url.startsWith("/dev/files/")) {
      const img = element("img");
      img.src = embed[part].url;
      img.alt = part;
      box.append(img);
    } else if (embed[part] && embed[part].url) {
      // Outside links are not fetched: the playground talks to this machine only.
      box.append(element("div", "footer", `${part}: ${embed[part].url}`));
    }
  }
  if (embed.footer && embed.footer.text) box.append(element("div", "footer", embed.footer.text));
  return box;
}

/// Discord's basic markdown on escaped text: code blocks, inline code, bold, italic,
/// underline, strike-through, and user mentions shown by name.
function markdown(text) {
  const escaped = text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const blocks = [];
  let out = escaped.replace(/```(?:[a-z]*\n)?([\s\S]*?)```/g, (_, code) => {
    blocks.push(`<pre>${code}</pre>`);
    return `\u0000${blocks.length - 1}\u0000`;
  });
  out = out.replace(/`([^`]+)`/g, (_, code) => {
    blocks.push(`<code>${code}</code>`);
    return `\u0000${blocks.length - 1}\u0000`;
  });
  out = out
    .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
    .replace(/__(.+?)__/g, "<u>$1</u>")
    .replace(/\*(.+?)\*/g, "<em>$1</em>")
    .replace(/~~(.+?)~~/g, "<s>$1</s>")
    .replace(/&lt;@!?(\d+)&gt;/g, (_, id) => `<span class="mention">@${nameOf(id)}</span>`);
  return out.replace(/\u0000(\d+)\u0000/g, (_, i) => blocks[Number(i)]);
}

/// A user id's name: a person of the playground's, the bot's, or the id itself.
function nameOf(id) {
  const person = state.people.find((p) => p.id === id);
  return person ? person.name : state.bot && state.bot.id === id ? state.bot.name : id;
}

/// Plain text with user mentions (`<@id>`) written as `@name`.
function withNames(text) {
  return text.replace(/<@!?(\d+)>/g, (_, id) => `@${nameOf(id)}`);
}

function colour(name) {
  let hash = 0;
  for (const c of name) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360}, 45%, 45%)`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function notice(text) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { box.hidden = true; }, 8000);
}

function log(event) {
  const list = $("log");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const entry = element("div", `entry ${event.dir}`);
  const seconds = (event.at_ms / 1000).toFixed(3);
  entry.append(element("span", "at", `${seconds}s ${event.dir === "in" ? "→ bot" : "bot →"} `), document.createTextNode(event.text));
  list.append(entry);
  while (list.childElementCount > 1000) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

// ---- the composer: messages, slash commands, the command picker ----

function channelToSend() {
  return state.channel;
}

$("composer-form").onsubmit = (e) => {
  e.preventDefault();
  const input = $("composer");
  if (pickerOpen() && state.pickerIndex >= 0) {
    state.pickerItems[state.pickerIndex].pick();
    return;
  }
  const text = input.value.trim();
  if (!text) return;
  if (text.startsWith("/")) {
    send({ type: "slash", user: state.speaker, channel: channelToSend(), text });
  } else {
    send({ type: "say", user: state.speaker, channel: channelToSend(), content: text });
  }
  input.value = "";
  hidePicker();
};

$("composer").addEventListener("input", () => updatePicker());
$("composer").addEventListener("keydown", (e) => {
  if (!pickerOpen()) return;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    const n = state.pickerItems.length;
    state.pickerIndex = (state.pickerIndex + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
    highlightPicker();
  } else if (e.key === "Tab") {
    e.preventDefault();
    state.pickerItems[Math.max(state.pickerIndex, 0)].pick();
  } else if (e.key === "Escape") {
    hidePicker();
  }
});
$("clear-log").onclick = () => { $("log").textContent = ""; };

function pickerOpen() {
  return !$("picker").hidden && state.pickerItems.length > 0;
}

function hidePicker() {
  $("picker").hidden = true;
  state.pickerItems = [];
  state.pickerIndex = -1;
}

function showPicker(items) {
  const picker = $("picker");
  picker.textContent = "";
  state.pickerItems = items;
  state.pickerIndex = -1;
  if (!items.length) { picker.hidden = true; return; }
  for (const item of items) {
    const row = element("div", "item", item.label);
    if (item.description) row.append(element("span", "description", item.description));
    row.onmousedown = (e) => { e.preventDefault(); item.pick(); };
    picker.append(row);
  }
  picker.hidden = false;
}

function highlightPicker() {
  [...$("picker").children].forEach((row, i) => row.classList.toggle("selected", i === state.pickerIndex));
}

function updatePicker() {
  const input = $("composer");
  const text = input.value;
  if (!text.startsWith("/")) { hidePicker(); return; }
  const space = text.indexOf(" ");
  if (space < 0) {
    // The command picker: every command whose name starts with what is typed.
    const typed = text.slice(1);
    const matches = state.commands.filter((c) => c.name.startsWith(typed)).slice(0, 25);
    showPicker(matches.map((c) => ({
      label: `/${c.name}`,
      description: c.description,
      pick: () => { input.value = `/${c.name} `; updatePicker(); input.focus(); },
    })));
    return;
  }
  const command = state.commands.find((c) => c.name === text.slice(1, space));
  if (!command) { hidePicker(); return; }
  // The option being typed: `name:partial` at the end.
  const last = text.slice(text.lastIndexOf(" ") + 1);
  const colon = last.indexOf(":");
  const option = colon > 0 ? (command.options || []).find((o) => o.name === last.slice(0, colon)) : null;
  if (option && option.choices) {
    const partial = last.slice(colon + 1).toLowerCase();
    showChoices(option.choices.filter((c) => String(c.name).toLowerCase().startsWith(partial)));
  } else if (option && option.autocomplete) {
    clearTimeout(updatePicker.timer);
    updatePicker.timer = setTimeout(() => {
      send({ type: "autocomplete", user: state.speaker, channel: channelToSend(), text: input.value });
    }, 200);
  } else {
    // The options still to give, as hints.
    const given = new Set(text.split(" ").slice(1).map((w) => w.split(":")[0]));
    const left = (command.options || []).filter((o) => !given.has(o.name));
    showPicker([{ label: command.usage, description: command.description, pick: () => hidePicker() }].concat(
      left.map((o) => ({
        label: `${o.name}:`,
        description: `${o.required ? "required" : "optional"} — ${o.description || ""}`,
        pick: () => { input.value = `${input.value.replace(/\s*$/, "")} ${o.name}:`; updatePicker(); input.focus(); },
      }))));
  }
}

function showChoices(choices) {
  const input = $("composer");
  showPicker(choices.map((choice) => ({
    label: String(choice.name),
    description: choice.name === choice.value ? "" : String(choice.value),
    pick: () => {
      const text = input.value;
      const start = text.lastIndexOf(" ") + 1;
      const name = text.slice(start).split(":")[0];
      input.value = `${text.slice(0, start)}${name}:${choice.value} `;
      hidePicker();
      input.focus();
    },
  })));
}

connect();
