-- plugins/counter.lua
return {
  description = "Counts hits.",
  commands = {
    {
      name = "hit", description = "Count a hit.",
      params = { { name = "by", type = "integer", min = 1, max = 10, optional = true } },
      run = function(ctx, args)
        local n = (ctx.store:get("hits") or 0) + (args.by or 1)
        ctx.store:set("hits", n)
        return n .. " hits"
      end,
    },
  },
}
