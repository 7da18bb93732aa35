//! Script plugins as users write them: commands beside native plugins, arguments, ranks,
//! cooldowns, storage, buttons and suggestions, and load errors that name the file and line.

use regis_lua::{Limits, LoadError, ScriptPlugin};
use regis_testkit::TestBot;

const COUNTER: &str = r#"
return {
  description = "Counts hits.",
  commands = {
    {
      name = "hit",
      description = "Count a hit.",
      params = { { name = "by", type = "integer", min = 1, max = 10, optional = true } },
      cooldown = "2 per 60s per user",
      run = function(ctx, args)
        local n = (ctx.store:get("hits") or 0) + (args.by or 1)
        ctx.store:set("hits", n)
        return ctx.author.name .. ": " .. n .. " hits"
      end,
    },
    {
      name = "reset",
      description = "Reset the count (moderators).",
      rank = 100,
      run = function(ctx) ctx.store:delete("hits"); return "reset" end,
    },
  },
}
"#;

fn script(name: &str, source: &str) -> ScriptPlugin {
    ScriptPlugin::from_source(format!("{name}.lua"), source.to_string(), Limits::default())
        .unwrap_or_else(|e| panic!("{name}.lua loads: {e}"))
}

#[tokio::test]
async fn a_script_command_parses_arguments_obeys_ranks_and_cooldowns_and_keeps_its_count() {
    let bot = TestBot::with(script("counter", COUNTER)).await;
    assert_eq!(bot.send("!hit").await.text(), "tester: 1 hits");
    assert_eq!(bot.send("!hit 5").await.text(), "tester: 6 hits");
    let bad = bot.send("!hit 50").await.text();
    assert!(bad.contains("`by`") && bad.ends_with("Usage: !hit [by]"), "{bad}");
    assert!(bot.send("!hit").await.text().contains("try again in"), "the cooldown counts script commands");
    assert_eq!(bot.send("!reset").await.text(), "`reset` needs rank 100; yours is 0.");
    let help = bot.send("!help").await.text();
    assert!(help.contains("counter:\n  !hit") && help.contains("Count a hit."), "{help}");
    assert!(help.contains("admin:"), "beside the native plugins: {help}");
    let one = bot.send("!help hit").await.text();
    assert!(one.contains("Usage: !hit [by]") && one.contains("integer 1..=10"), "{one}");
    let bot = bot.restart().await;
    assert_eq!(bot.send_as("bob", "!hit").await.text(), "bob: 7 hits", "the store survives a restart");
}

#[tokio::test]
async fn buttons_suggestions_and_slash_options_reach_the_script() {
    let source = r#"
return {
  name = "poll",
  description = "Polls.",
  commands = {
    {
      name = "ask", description = "Ask a question.",
      params = { { name = "topic", type = "string", autocomplete = function(ctx, partial)
        local found = {}
        for _, t in ipairs({ "lunch", "launch", "lamps" }) do
          if t:sub(1, #partial) == partial then found[#found + 1] = t end
        end
        return found
      end } },
      run = function(ctx, args)
        return { text = args.topic .. "?", buttons = { { label = "Yes", id = "vote:yes" }, { label = "No", id = "vote:no" } } }
      end,
    },
  },
  buttons = {
    vote = function(ctx, id) return ctx.author.name .. " votes " .. id:sub(6) end,
  },
}
"#;
    let bot = TestBot::with(script("poll", source)).await;
    let asked = bot.send("!ask lunch").await;
    let sent = asked.iter().next().expect("a reply");
    assert_eq!(sent.reply.text, "lunch?");
    let ids: Vec<&str> = sent.reply.buttons.iter().map(|b| b.custom_id.as_str()).collect();
    assert_eq!(ids, ["poll:vote:yes", "poll:vote:no"], "namespaced with the plugin");
    assert_eq!(bot.click("bob", "poll:vote:no").await.text(), "bob votes no");
    assert_eq!(bot.suggest("ask", "topic", "la").await, ["launch", "lamps"]);
    assert_eq!(bot.slash("ask", serde_json::json!({ "topic": "tea" })).await.text(), "tea?");
    let missing = bot.slash("ask", serde_json::json!({})).await.text();
    assert!(missing.ends_with("Usage: /ask <topic>"), "{missing}");
}

#[test]
fn a_script_that_cannot_load_says_where_and_why() {
    let load = |name: &str, source: &str| {
        ScriptPlugin::from_source(format!("{name}.lua"), source.to_string(), Limits::default()).map(|_| ())
    };
    let syntax = load("broken", "return {\n  description = 'x',,\n}").unwrap_err();
    assert!(matches!(syntax, LoadError::Lua { .. }));
    assert!(syntax.to_string().contains("broken.lua:2:"), "{syntax}");
    let raised = load("raises", "\n\nerror('no config')").unwrap_err();
    assert!(raised.to_string().contains("raises.lua:3: no config"), "{raised}");
    let no_table = load("nothing", "return 42").unwrap_err();
    assert!(no_table.to_string().contains("must return a table"), "{no_table}");
    let no_run = load("norun", "return { commands = { { name = 'x', description = 'X.' } } }").unwrap_err();
    assert!(no_run.to_string().contains("command `x`: `run` must be the function"), "{no_run}");
    let bad_type = load(
        "badtype",
        "return { commands = { { name = 'x', description = 'X.', params = { { name = 'n', type = 'int' } }, run = print } } }",
    )
    .unwrap_err();
    assert!(bad_type.to_string().contains("unknown type `int`"), "{bad_type}");
    let bad_name =
        load("badname", "return { commands = { { name = 'Big Bad Name', description = 'X.', run = print } } }")
            .unwrap_err();
    assert!(bad_name.to_string().contains("Big Bad Name"), "{bad_name}");
    let spins = load("spins", "while true do end").unwrap_err();
    assert!(matches!(spins, LoadError::Limit { .. }), "{spins}");
    let missing = ScriptPlugin::load("/nonexistent/x.lua", Limits::default()).unwrap_err();
    assert!(matches!(missing, LoadError::Read { .. }), "{missing}");
}

#[tokio::test]
async fn a_script_uploads_edits_what_it_sent_and_hears_published_events() {
    let source = r#"
return {
  name = "verbs",
  description = "The connector verbs.",
  commands = {
    { name = "file", description = "Upload.", run = function(ctx) ctx:upload("notes.txt", "line one\n") end },
    { name = "redo", description = "Edit.", run = function(ctx)
        local sent = ctx:reply("first draft")
        ctx:edit(sent, "final")
      end },
    { name = "echo", description = "Hear an event.", run = function(ctx)
        local sub = ctx:subscribe("verbs.said")
        ctx:publish("verbs.said", { n = 42 })
        local event = sub:next(5)
        return "heard " .. tostring(event and event.data.n)
      end },
    { name = "quiet", description = "Hear nothing.", run = function(ctx)
        return tostring(ctx:subscribe("verbs.never"):next(0.05))
      end },
  },
}
"#;
    let bot = TestBot::with(script("verbs", source)).await;
    let uploaded = bot.send("!file").await;
    let files: Vec<(String, Vec<u8>)> =
        uploaded.iter().flat_map(|s| s.reply.attachments.iter().map(|a| (a.name.clone(), a.data.clone()))).collect();
    assert_eq!(files, [("notes.txt".to_string(), b"line one\n".to_vec())]);
    assert_eq!(bot.send("!redo").await.text(), "first draft");
    let edits = bot.edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].1.text, "final");
    assert_eq!(bot.send("!echo").await.text(), "heard 42");
    assert_eq!(bot.send("!quiet").await.text(), "nil");
}
