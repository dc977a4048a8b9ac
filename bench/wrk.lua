-- wrk script for bench/wrk.ts. Its argument is a file of tab-separated lines written by wrk.ts:
--   header <TAB> name <TAB> value             sent with every request
--   request <TAB> method <TAB> path <TAB> body  the requests, replayed in turn from a random start
-- Counts the answers by status and prints one JSON line from done(): wrk itself only counts
-- "non-2xx/3xx". Its percentiles are wrk's own, with its correction for coordinated omission.
-- Its further arguments: a pause in milliseconds before each connection's first request, the
-- connections of each thread, and "chain" for the reserve-fulfil scenario: each reservation
-- answered 201 is then fulfilled (POST …/fulfil, no body), before the next request of the file.

local threads = {}
local requests = {}
local position = 1
local start_pause, first_requests = 0, 0
local chain, pending, bare_headers = false, {}, {}
counts = {} -- global, so that done() can read it from each thread with thread:get

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  local headers, lines = {}, {}
  for line in io.lines(args[1]) do
    local kind, a, b, c = line:match("^(%a+)\t([^\t]*)\t([^\t]*)\t?(.*)$")
    if kind == "header" then headers[a] = b else table.insert(lines, { a, b, c }) end
  end
  for i, r in ipairs(lines) do
    requests[i] = wrk.format(r[1], r[2], headers, r[3] ~= "" and r[3] or nil)
  end
  for name, value in pairs(headers) do
    if name:lower() ~= "content-type" then bare_headers[name] = value end
  end
  chain = args[4] == "chain"
  math.randomseed(os.time() * 64 + id) -- id: set by setup() before init() runs
  position = math.random(#requests)
  start_pause, first_requests = tonumber(args[2]), tonumber(args[3])
end

-- Node accepts one connection per turn of its event loop, so a server already busy takes a while
-- to accept 64 new ones (half a second on PostgreSQL, seconds on PGlite), and those first requests
-- would stand for the whole run's tail. wrk asks delay() before every request of a thread; the
-- first ones are its connections' first requests.
function delay()
  if first_requests > 0 then
    first_requests = first_requests - 1
    return start_pause
  end
  return 0
end

function request()
  if #pending > 0 then
    return wrk.format("POST", "/api/v1/reservations/" .. table.remove(pending) .. "/fulfil", bare_headers, nil)
  end
  position = position % #requests + 1
  return requests[position]
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if chain and status == 201 then
    local id = body:match('"id":"([%x%-]+)"')
    if id then table.insert(pending, id) end
  end
end

function done(summary, latency)
  local total, statuses = {}, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do total[status] = (total[status] or 0) + n end
  end
  for status, n in pairs(total) do table.insert(statuses, string.format('"%d":%d', status, n)) end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"p50Ms":%.3f,"p99Ms":%.3f,"maxMs":%.3f,"statuses":{%s},' ..
      '"socketErrors":{"connect":%d,"read":%d,"write":%d,"timeout":%d}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, table.concat(statuses, ","), e.connect, e.read, e.write, e.timeout))
end
