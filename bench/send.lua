-- bench/send.lua — wrk script: POST /v1/sms/send with a unique `to` per
-- request. Arguments (after --): API key, then an optional request count
-- for an exact-count run (each thread sends count/threads, then stops wrk),
-- then an optional number of sending numbers: `from` cycles through
-- +15552000000, +15552000001, ... (default: always +15551234567), then an
-- optional rate: requests per second over all threads (0: as fast as
-- answered), with the number of wrk threads after it (-t; default 2). At a
-- rate, each thread hands out send times at fixed intervals (its share of
-- the rate) and a connection waits in delay() for its slot; a slot missed by
-- more than a second is dropped rather than sent in a burst.
-- Arguments: KEY [COUNT [NFROM [RATE THREADS]]], e.g. -- sgw_test_… 0 0 2000 2
-- Prints one line at the end:
--   LAT ok=… bad=… rps=… p50_ms=… p99_ms=…
local ok_ffi, ffi = pcall(require, "ffi")
local tv
if ok_ffi then
  ffi.cdef[[
  typedef struct { long tv_sec; long tv_usec; } sendlua_timeval;
  int gettimeofday(sendlua_timeval *tv, void *tz);
  ]]
  tv = ffi.new("sendlua_timeval")
end
local function wall()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) / 1e6
end
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  key = args[1] or ""
  quota = tonumber(args[2] or "0")
  nfrom = tonumber(args[3] or "0")
  local rate = tonumber(args[4] or "0")
  local nthreads = tonumber(args[5] or "2")
  interval = 0
  if rate > 0 then
    if not ok_ffi then error("send.lua: a rate needs wrk built with LuaJIT (ffi)") end
    interval = nthreads / rate
  end
  next_slot = 0
  sent, ok, bad = 0, 0, 0
  base = 5550000000 + tid * 10000000
end
function delay()
  if interval <= 0 then return 0 end
  local t = wall()
  if next_slot < t - 1 then next_slot = t end
  local slot = next_slot
  next_slot = next_slot + interval
  if slot <= t then return 0 end
  return math.floor((slot - t) * 1000 + 0.5)
end
function request()
  sent = sent + 1
  -- the last digits stay away from the simulator's story endings 0002-0008
  local to = string.format("+1%d", base + (sent % 1000000) * 10 + 1)
  local from = "+15551234567"
  if nfrom > 0 then from = string.format("+1555200%04d", (sent + tid) % nfrom) end
  local body = string.format('{"to":"%s","from":"%s","body":"benchmark message %d"}', to, from, sent)
  return wrk.format("POST", "/v1/sms/send",
    { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }, body)
end
function response(status, headers, body)
  if status == 202 then ok = ok + 1 else bad = bad + 1 end
  if quota > 0 and ok + bad >= quota then wrk.thread:stop() end
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
