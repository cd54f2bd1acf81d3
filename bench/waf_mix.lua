-- wrk script for `bench/run.sh waf`: rotates through the request mix in bench/waf_mix.tsv (path given as the
-- first argument after the URL, or in $WAF_MIX) and counts the response statuses.
--
--   wrk -t1 -c20 -d10s -s bench/waf_mix.lua http://127.0.0.1:PORT/ bench/waf_mix.tsv
--
-- Each thread sends the requests in a fixed cycle built from the weights by smooth weighted round-robin (the
-- attacks are spread out, not bunched). Every request is formatted once, in init(); request() only returns
-- the next prebuilt string. The last line wrk prints is
--   mix: 2xx=N 403=N other=N
-- (other: any status that is neither 2xx nor 403). With a WAF, 403 should be the attack share of the
-- requests; without one, 0.

local host = "shop.example.com"

local function split(s, sep)
  local out, from = {}, 1
  while true do
    local i = string.find(s, sep, from, true)
    if not i then
      out[#out + 1] = string.sub(s, from)
      return out
    end
    out[#out + 1] = string.sub(s, from, i - 1)
    from = i + #sep
  end
end

-- load_mix(file): { {name=, weight=, raw=}, ... } in file order.
local function load_mix(file)
  local f = assert(io.open(file, "r"), "waf_mix.lua: cannot open " .. tostring(file))
  local mix = {}
  for line in f:lines() do
    if line ~= "" and string.sub(line, 1, 1) ~= "#" then
      local c = split(line, "\t")
      assert(#c == 7, "waf_mix.lua: expected 7 tab-separated fields: " .. line)
      local headers = { Host = host }
      for _, h in ipairs(split(c[6], "|")) do
        local name, value = string.match(h, "^([^:]+):%s*(.*)$")
        assert(name, "waf_mix.lua: bad header '" .. h .. "'")
        headers[name] = value
      end
      local body = c[7] ~= "-" and c[7] or nil
      mix[#mix + 1] = { name = c[1], weight = tonumber(c[2]), raw = wrk.format(c[4], c[5], headers, body) }
    end
  end
  f:close()
  assert(#mix > 0, "waf_mix.lua: no requests in " .. file)
  return mix
end

local cycle, pos = {}, 0

function init(args)
  local file = args[1] or os.getenv("WAF_MIX")
  local mix = load_mix(file)
  -- smooth weighted round-robin (as nginx balances upstreams): even spread, exact proportions per cycle
  local total, current = 0, {}
  for i, m in ipairs(mix) do
    total = total + m.weight
    current[i] = 0
  end
  for _ = 1, total do
    local best
    for i, m in ipairs(mix) do
      current[i] = current[i] + m.weight
      if not best or current[i] > current[best] then best = i end
    end
    current[best] = current[best] - total
    cycle[#cycle + 1] = mix[best].raw
  end
end

function request()
  pos = pos % #cycle + 1
  return cycle[pos]
end

s2xx, s403, sother = 0, 0, 0

function response(status, headers, body)
  if status >= 200 and status < 300 then
    s2xx = s2xx + 1
  elseif status == 403 then
    s403 = s403 + 1
  else
    sother = sother + 1
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("s2xx")
    b = b + t:get("s403")
    c = c + t:get("sother")
  end
  io.write(string.format("mix: 2xx=%d 403=%d other=%d\n", a, b, c))
end
