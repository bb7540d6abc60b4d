-- wrk script of bench_queries.py: each connection cycles through a list of
-- request paths (one per line of the file named after `--`), every thread
-- from its own starting point, so that consecutive requests ask for other
-- targets, groups and windows. At the end one line, prefixed "RESULT ",
-- gives the figures as JSON for the Python side.

local paths = {}
local pos = 1

function setup(thread)
   thread:set("tid", tostring(thread))
end

function init(args)
   local file = args[1]
   if file == nil then
      error("bench_queries.lua: the paths file is missing (wrk ... -- FILE)")
   end
   for line in io.lines(file) do
      if #line > 0 then
         paths[#paths + 1] = line
      end
   end
   if #paths == 0 then
      error("bench_queries.lua: no paths in " .. file)
   end
   -- A different starting point per thread: its address in the table text.
   local seed = 0
   local tid = tid or ""
   for i = 1, #tid do
      seed = (seed * 31 + tid:byte(i)) % 2147483647
   end
   math.randomseed(seed + os.time())
   pos = math.random(#paths)
end

function request()
   local p = paths[pos]
   pos = pos % #paths + 1
   return wrk.format("GET", p)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
