-- wrk script: post.lua's request from a different user each time (x-intersebd-user-id), so an experiment split
-- by user assigns every request afresh, half to each variant of a 50/50 split.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You write short titles."},{"role":"user","content":"A document about proxies and latency"}]}'

local n = 0
request = function()
  n = n + 1
  wrk.headers["x-intersebd-user-id"] = "user-" .. n
  return wrk.format()
end
