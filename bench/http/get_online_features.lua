-- wrk script: POST /get-online-features bodies for random entities, without a Content-Type
-- (as Feast's curl examples do).
--   wrk ... -s get_online_features.lua URL -- ENTITIES_PER_REQUEST ENTITY_COUNT FEATURES JOIN_KEY
-- FEATURES is the inside of the JSON array, e.g. '"bench:f0","bench:f1"'. 1000 requests are
-- formatted per wrk thread at start and sent round-robin, so wrk spends nothing on JSON or
-- HTTP formatting while it measures. There is no response() callback (it would make wrk hand
-- every response to Lua, halving its request rate): run_wrk.sh fails a run whose summary
-- reports non-2xx responses instead.
local requests = {}
local next_request = 0

function init(args)
  local per_request = tonumber(args[1] or "1")
  local entity_count = tonumber(args[2] or "100000")
  local features = args[3] or '"bench:f0"'
  local join_key = args[4] or "entity_id"
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  for b = 1, 1000 do
    local ids = {}
    for k = 1, per_request do ids[k] = tostring(math.random(1, entity_count)) end
    local body = '{"features":[' .. features .. '],"entities":{"' .. join_key .. '":[' ..
                 table.concat(ids, ",") .. ']}}'
    requests[b] = wrk.format("POST", nil, nil, body)
  end
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
