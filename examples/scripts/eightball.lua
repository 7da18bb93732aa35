-- The magic eight ball: the smallest useful script plugin.
local answers = { "It is certain.", "Ask again later.", "Very doubtful.", "Yes.", "No." }

return {
  description = "Answers to yes/no questions.",
  commands = {
    {
      name = "8ball",
      description = "Ask the eight ball a question.",
      params = { { name = "question", type = "rest" } },
      run = function(ctx, args) return answers[math.random(#answers)] end,
    },
  },
}
