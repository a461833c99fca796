-- wrk script: a small Chat Completions request, as a service would send it.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You write short titles."},{"role":"user","content":"A document about proxies and latency"}]}'
