-- A poll with Yes/No buttons. Each person's vote is a key of its own in the plugin's store,
-- so votes arriving at once (on several workers) never overwrite each other.
return {
  description = "Yes/no polls with buttons.",
  commands = {
    {
      name = "poll",
      description = "Ask the channel a yes/no question.",
      params = { { name = "question", type = "rest", description = "what to ask" } },
      run = function(ctx, args)
        for key in pairs(ctx.store:list("vote:")) do ctx.store:delete(key) end
        ctx.store:set("question", args.question)
        return { text = args.question, buttons = { { label = "Yes", id = "vote:yes" }, { label = "No", id = "vote:no" } } }
      end,
    },
    {
      name = "results",
      description = "Show the votes so far.",
      run = function(ctx)
        local question = ctx.store:get("question")
        if not question then return "No poll yet: start one with !poll." end
        local yes, no = 0, 0
        for _, vote in pairs(ctx.store:list("vote:")) do
          if vote == "yes" then yes = yes + 1 else no = no + 1 end
        end
        return string.format("%s yes %d, no %d", question, yes, no)
      end,
    },
  },
  buttons = {
    vote = function(ctx, id)
      ctx.store:set("vote:" .. ctx.author.key, id:match("^vote:(%a+)$"))
      return { text = "Counted, " .. ctx.author.name .. ".", ephemeral = true }
    end,
  },
}
