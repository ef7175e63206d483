-- wrk script: POST /get-online-features bodies for random entities, without a Content-Type
-- (as Feast's curl examples do).
--   wrk ... -s get_online_features.lua URL -- ENTITIES_PER_REQUEST ENTITY_COUNT FEATURES JOIN_KEY
-- FEATURES is the inside of the JSON array, e.g. '"bench:f0","bench:f1"'. 1000 bodies are
-- built per wrk thread at start and sent round-robin, so wrk spends nothing on JSON.
local bodies = {}
local next_body = 0

function init(args)
  local per_request = tonumber(args[1] or "1")
  local entity_count = tonumber(args[2] or "100000")
  local features = args[3] or '"bench:f0"'
  local join_key = args[4] or "entity_id"
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  for b = 1, 1000 do
    local ids = {}
    for k = 1, per_request do ids[k] = tostring(math.random(1, entity_count)) end
    bodies[b] = '{"features":[' .. features .. '],"entities":{"' .. join_key .. '":[' ..
                table.concat(ids, ",") .. ']}}'
  end
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil, nil, bodies[next_body])
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
    wrk.thread:stop()
  end
end
