-- wrk script: a Chat Completions request the size of a real conversation's turn (about 11 KB, quotes included;
-- the fake upstream echoes it, so the answer is as long): what storing a call costs grows with its size, and
-- post.lua's request is a few hundred bytes.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
local turn = 'A long conversation turn with \\"quotes\\" and words. '
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You write short titles."},'
  .. '{"role":"user","content":"' .. string.rep(turn, 200) .. '"}]}'
