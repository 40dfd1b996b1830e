-- bench/kannel/sendsms.lua — wrk script for Kannel's HTTP sendsms (GET
-- /cgi-bin/sendsms), the counterpart of bench/send.lua: a unique `to` per
-- request. Arguments (after --): USER PASSWORD. Prints at the end:
--   LAT ok=… bad=… rps=… p50_ms=… p99_ms=…
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  sent, ok, bad = 0, 0, 0
  path = "/cgi-bin/sendsms?username=" .. (args[1] or "") .. "&password=" .. (args[2] or "") ..
         "&from=15551234567&text=benchmark+message+"
  base = 15550000000 + tid * 10000000
end
function request()
  sent = sent + 1
  return wrk.format("GET", path .. sent .. "&to=" .. string.format("%d", base + sent * 10 + 1))
end
function response(status, headers, body)
  if status == 202 then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local ok_total, bad_total = 0, 0
  for _, t in ipairs(threads) do
    ok_total = ok_total + t:get("ok")
    bad_total = bad_total + t:get("bad")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("LAT ok=%d bad=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f\n",
    ok_total, bad_total, ok_total / secs, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
