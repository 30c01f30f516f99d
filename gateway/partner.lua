-- Partner gateway Lua filter. It is the FIRST http filter, so it runs first on
-- requests (before the gRPC-JSON transcoder) and last on responses (after it).
--
-- Requests:
--   * X-Request-ID: the early header mutation moved the caller's header to
--     x-gateway-client-request-id and the connection manager generated a fresh UUID v4
--     as x-request-id. Put the caller's id back when it is a valid UUID.
--   * Drop internal headers a caller may send (grpc-*, x-envelope*).
--   * Remember the request id and the receive time for the response side.
--   * Refuse a request line and headers over the documented limit (431), and, on a
--     route with a JSON body (route metadata), a body that is not JSON, not sent as
--     JSON or that gives a repeated field something else than an array (the
--     transcoder would take it). The local reply mappers word each refusal in the
--     family's envelope; the dynamic metadata says which refusal it is.
-- Responses:
--   * A gRPC error (grpc-status other than 0) that carries x-envelope-status and
--     x-envelope (trailing metadata; in a trailers-only response they arrive as headers)
--     becomes exactly that HTTP status and JSON body; the other metadata stay as headers.
--   * A gRPC error without an envelope becomes the route's fallback reply, which the
--     renderer writes into the route metadata: the family's 500 envelope on a route to
--     a service; the route's own 404/405/415 on a direct-response route (Envoy turns a
--     local reply into a gRPC status when the caller sent a gRPC content type).
--   * A success with x-envelope-success-status: 206 (a ranged download) answers 206.
--   * grpc-* and x-envelope* never reach the client, on any response.

local FILTER = "envoy.filters.http.lua"
-- Filled in by gateway/envoy_config.py (_with_edge_limits).
local MAX_HEADER_BYTES = {{max_request_headers_bytes}}
local MAX_HEADER_FIELDS = {{max_request_headers_count}}
local MAX_BODY_BYTES = {{max_request_body_bytes}}
local JSON_MAX_DEPTH = 64
local CLIENT_ID_HEADER = "x-gateway-client-request-id"

local UUID_PATTERN = "^" .. string.rep("%x", 8) .. "%-" .. string.rep("%x", 4) .. "%-"
  .. string.rep("%x", 4) .. "%-" .. string.rep("%x", 4) .. "%-" .. string.rep("%x", 12) .. "$"

-- The 500 of a route without a family's fallback (outside every family): rendered by
-- gateway/replies.py (`_plain_internal_error`), like the 404 there.
local GENERIC_FALLBACK = [==[{{generic_fallback_body}}]==]

local function is_uuid(value)
  return value ~= nil and string.find(value, UUID_PATTERN) ~= nil
end

local function is_internal(name)
  return string.sub(name, 1, 5) == "grpc-" or string.sub(name, 1, 10) == "x-envelope"
end

-- Milliseconds since the epoch -> "YYYY-MM-DDTHH:MM:SS.mmmZ" (no dependency on os.date).
local function iso8601_utc(ms)
  local secs = math.floor(ms / 1000)
  local millis = ms - secs * 1000
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  local hh = math.floor(rem / 3600)
  local mi = math.floor((rem - hh * 3600) / 60)
  local ss = rem - hh * 3600 - mi * 60
  -- civil_from_days (H. Hinnant)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then
    y = y + 1
  end
  return string.format("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, hh, mi, ss, millis)
end

-- Removes internal headers; returns the other headers as a list of {name, value}.
local function strip_internal(headers)
  local drop, keep = {}, {}
  for name, value in pairs(headers) do
    if is_internal(name) then
      drop[#drop + 1] = name
    else
      keep[#keep + 1] = { name, value }
    end
  end
  for _, name in ipairs(drop) do
    headers:remove(name)
  end
  return keep
end

-- Whether a byte string is well-formed UTF-8 (no overlong forms, surrogates or code
-- points above U+10FFFF): what protobuf requires of a string field.
local function valid_utf8(text)
  local i, n = 1, #text
  while i <= n do
    local c = string.byte(text, i)
    if c >= 0x80 then
      local len, min
      if c >= 0xC2 and c <= 0xDF then len, min = 2, 0x80
      elseif c >= 0xE0 and c <= 0xEF then len, min = 3, 0x800
      elseif c >= 0xF0 and c <= 0xF4 then len, min = 4, 0x10000
      else return false end
      if i + len - 1 > n then return false end
      local point = c % (2 ^ (7 - len))
      for j = i + 1, i + len - 1 do
        local b = string.byte(text, j)
        if b < 0x80 or b > 0xBF then return false end
        point = point * 64 + (b - 0x80)
      end
      if point < min or point > 0x10FFFF or (point >= 0xD800 and point <= 0xDFFF) then return false end
      i = i + len
    else
      i = i + 1
    end
  end
  return true
end

-- A path or query whose bytes, percent-escapes decoded, are not UTF-8 (`%FF`, `%C0%80`).
local function malformed_escapes(path)
  local decoded = string.gsub(path, "%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end)
  return not valid_utf8(decoded)
end


-- Names plus values of every header (the path included) and the number of header
-- fields (pseudo-headers are not fields).
local function header_size(headers)
  local bytes, fields = 0, 0
  for name, value in pairs(headers) do
    bytes = bytes + #name + #value
    if string.byte(name, 1) ~= 58 then
      fields = fields + 1
    end
  end
  return bytes, fields
end

-- A strict JSON (RFC 8259) reader. Objects are {k = "o", v = {key = value}}, arrays
-- {k = "a", v = {...}}, scalars their kind ("string", "number", "bool", "null").
-- Returns nil on any syntax error (trailing commas, comments, single quotes, a bad
-- escape, a control character in a string, trailing data) or nesting over the limit.
local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function json_read(text)
  local pos, n = 1, #text

  local function skip()
    pos = string.find(text, "[^ \t\r\n]", pos) or (n + 1)
  end

  local function read_string()
    local parts, from = {}, pos + 1
    while true do
      local at = string.find(text, '[%z\001-\031"\\]', from)
      if at == nil then return nil end
      local c = string.sub(text, at, at)
      parts[#parts + 1] = string.sub(text, from, at - 1)
      if c == '"' then
        pos = at + 1
        return table.concat(parts)
      elseif c ~= "\\" then
        return nil -- an unescaped control character
      end
      local e = string.sub(text, at + 1, at + 1)
      if ESCAPES[e] ~= nil then
        parts[#parts + 1] = ESCAPES[e]
        from = at + 2
      elseif e == "u" and string.find(text, "^%x%x%x%x", at + 2) then
        -- Kept as written: only keys are compared, and the documented ones are ASCII.
        parts[#parts + 1] = string.sub(text, at, at + 5)
        from = at + 6
      else
        return nil
      end
    end
  end

  local function read_number()
    local _, last = string.find(text, "^%-?0", pos)
    if last == nil then
      _, last = string.find(text, "^%-?[1-9]%d*", pos)
    end
    if last == nil then return nil end
    pos = last + 1
    _, last = string.find(text, "^%.%d+", pos)
    if last ~= nil then pos = last + 1 elseif string.sub(text, pos, pos) == "." then return nil end
    _, last = string.find(text, "^[eE][+-]?%d+", pos)
    if last ~= nil then pos = last + 1 elseif string.find(text, "^[eE]", pos) then return nil end
    return "number"
  end

  local read_value
  read_value = function(depth)
    if depth > JSON_MAX_DEPTH then return nil end
    skip()
    local c = string.sub(text, pos, pos)
    if c == "{" then
      local fields = {}
      pos = pos + 1
      skip()
      if string.sub(text, pos, pos) == "}" then
        pos = pos + 1
        return { k = "o", v = fields }
      end
      while true do
        skip()
        if string.sub(text, pos, pos) ~= '"' then return nil end
        local key = read_string()
        if key == nil then return nil end
        skip()
        if string.sub(text, pos, pos) ~= ":" then return nil end
        pos = pos + 1
        local value = read_value(depth + 1)
        if value == nil then return nil end
        fields[key] = value
        skip()
        c = string.sub(text, pos, pos)
        pos = pos + 1
        if c == "}" then return { k = "o", v = fields } end
        if c ~= "," then return nil end
      end
    elseif c == "[" then
      local items = {}
      pos = pos + 1
      skip()
      if string.sub(text, pos, pos) == "]" then
        pos = pos + 1
        return { k = "a", v = items }
      end
      while true do
        local value = read_value(depth + 1)
        if value == nil then return nil end
        items[#items + 1] = value
        skip()
        c = string.sub(text, pos, pos)
        pos = pos + 1
        if c == "]" then return { k = "a", v = items } end
        if c ~= "," then return nil end
      end
    elseif c == '"' then
      return read_string() and "string"
    elseif string.sub(text, pos, pos + 3) == "true" or string.sub(text, pos, pos + 3) == "null" then
      local kind = string.sub(text, pos, pos + 3) == "null" and "null" or "bool"
      pos = pos + 4
      return kind
    elseif string.sub(text, pos, pos + 4) == "false" then
      pos = pos + 5
      return "bool"
    end
    return read_number()
  end

  local value = read_value(1)
  skip()
  if value == nil or pos <= n then return nil end
  return value
end

local function split(text, sep)
  local out = {}
  for part in string.gmatch(text, "[^" .. sep .. "]+") do
    out[#out + 1] = part
  end
  return out
end

-- The first repeated field (path segments from `i` on, see _repeated_paths in
-- gateway/envoy_config.py) of `value` that holds something else than an array or null,
-- or an array of strings holding something else than a string: its path as the caller
-- wrote it and the refusal ("not_an_array", "not_a_string"); nil when there is none.
local function misfit(value, segments, i, where)
  if type(value) ~= "table" or value.k ~= "o" then return nil end
  local segment = segments[i]
  local elements = string.sub(segment, -2) == "[]"
  if elements then segment = string.sub(segment, 1, -3) end
  local names, strings = string.match(segment, "^(.-)(:string)$")
  segment = names or segment
  for _, name in ipairs(split(segment, "|")) do
    local field = value.v[name]
    if field ~= nil then
      local here = where == "" and name or (where .. "." .. name)
      local array = type(field) == "table" and field.k == "a"
      if i == #segments then
        if field ~= "null" and not array then return here, "not_an_array" end
        if array and strings then
          for index, item in ipairs(field.v) do
            if item ~= "string" then return here .. "[" .. (index - 1) .. "]", "not_a_string" end
          end
        end
      elseif elements then
        if array then
          for index, item in ipairs(field.v) do
            local found, refusal = misfit(item, segments, i + 1, here .. "[" .. (index - 1) .. "]")
            if found then return found, refusal end
          end
        end
      else
        local found, refusal = misfit(field, segments, i + 1, here)
        if found then return found, refusal end
      end
    end
  end
  return nil
end

local function json_media_type(value, text_too)
  local media = string.lower(string.match(value or "", "^%s*([^;%s]*)") or "")
  if media == "application/json" or string.find(media, "^application/[%w!#%$&%^_%.%-]+%+json$") then
    return true
  end
  return text_too and media == "text/plain"
end

-- Why the body of this request is refused (a marker the mappers know, and the field),
-- or nil: it is not JSON, not an object, not sent as JSON, or a repeated field is not
-- an array (or an array of strings holds something else). Over MAX_BODY_BYTES the
-- transcoder's 413 answers instead.
local function body_refusal(handle, types, arrays, content_type)
  local body = handle:body()
  local size = body and body:length() or 0
  if size > MAX_BODY_BYTES then return nil end
  if not json_media_type(content_type, string.find(types, "text", 1, true) ~= nil) then
    return "content_type"
  end
  local value = size > 0 and json_read(body:getBytes(0, size)) or nil
  if type(value) ~= "table" or value.k ~= "o" then return "invalid_json" end
  for _, path in ipairs(split(arrays, " ")) do
    local field, refusal = misfit(value, split(path, "."), 1, "")
    if field ~= nil then return refusal, field end
  end
  return nil
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local client_id = headers:get(CLIENT_ID_HEADER)
  headers:remove(CLIENT_ID_HEADER)
  if is_uuid(client_id) then
    headers:replace("x-request-id", client_id)
  end
  strip_internal(headers)
  local meta = handle:streamInfo():dynamicMetadata()
  meta:set(FILTER, "request_id", headers:get("x-request-id") or "")
  meta:set(FILTER, "received_at", iso8601_utc(handle:timestamp()))
  meta:set(FILTER, "method", headers:get(":method") or "")
  -- The transcoder would put such bytes into a proto string field, which the service
  -- cannot even parse (a 500). A local 400: the family's mapper words it as its
  -- malformed-request reply.
  local bytes, fields = header_size(headers)
  if bytes > MAX_HEADER_BYTES or fields > MAX_HEADER_FIELDS then
    handle:respond({[":status"] = "431"}, "Request Header Fields Too Large")
    return
  end
  if malformed_escapes(headers:get(":path") or "") then
    handle:respond({[":status"] = "400"}, "malformed percent-encoding")
    return
  end
  local route = handle:metadata()
  if route ~= nil and route:get("json_body_method") == headers:get(":method") then
    -- Everything from the route and the headers first: body() yields, and handles taken
    -- before it are no longer valid.
    local refusal, field = body_refusal(handle, route:get("json_body_types") or "json",
      route:get("json_body_arrays") or "", headers:get("content-type"))
    if refusal ~= nil then
      meta = handle:streamInfo():dynamicMetadata() -- body() yielded: take the handle again
      meta:set(FILTER, "refusal", refusal)
      meta:set(FILTER, "refusal_field", field or "")
      handle:respond({[":status"] = "400"}, "Bad Request")
    end
  end
end

local function fallback_envelope(handle)
  local status, template = "500", GENERIC_FALLBACK
  local route = handle:metadata()
  if route ~= nil then
    status = route:get("fallback_status") or status
    template = route:get("fallback_body") or template
  end
  local info = handle:streamInfo():dynamicMetadata():get(FILTER) or {}
  local values = {
    timestamp = info["received_at"] or iso8601_utc(handle:timestamp()),
    request_id = info["request_id"] or "",
    method = info["method"] or "",
  }
  local body = string.gsub(template, "{{([%w_]+)}}", function(key)
    return values[key] or ""
  end)
  return status, body
end

-- An error envelope's status must be an HTTP error status (4xx or 5xx).
local function valid_status(value)
  if value == nil or string.find(value, "^[45]%d%d$") == nil then
    return nil
  end
  return value
end

function envoy_on_response(handle)
  local headers = handle:headers()
  local grpc_status = headers:get("grpc-status")
  local envelope_status = headers:get("x-envelope-status")
  local envelope = headers:get("x-envelope")
  local success_status = headers:get("x-envelope-success-status")
  strip_internal(headers)
  if grpc_status ~= nil then
    -- For the access log: the header itself never reaches the client.
    handle:streamInfo():dynamicMetadata():set(FILTER, "grpc_status", grpc_status)
  end

  if grpc_status == nil or grpc_status == "0" then
    -- A success (or a reply Envoy made itself): pass the body through unbuffered and
    -- drop internal trailers (grpc-status: 0 for an HTTP/2 client). A download that
    -- honours a Range request says so in x-envelope-success-status: the status is 206.
    if success_status == "206" and (grpc_status == nil or grpc_status == "0") then
      headers:replace(":status", "206")
    end
    if grpc_status == "0" then
      -- A unary answer: the transcoder held it whole and merged its trailers into these
      -- headers (content-length set), so no trailer follows to strip, and the script
      -- ends here instead of resuming once per body chunk (docs/performance-notes.md, "Rows as
      -- the answer wants them, the Lua filter's unary success").
      return
    end
    for _ in handle:bodyChunks() do
    end
    local trailers = handle:trailers()
    if trailers ~= nil then
      strip_internal(trailers)
    end
    return
  end

  -- A gRPC error. In a trailers-only response the metadata came as headers; otherwise
  -- (the service sent initial metadata first) it is in the trailers.
  local body = handle:body(true)
  if body == nil then
    -- The stream ended in trailers without any data. Envoy 1.40 forgets always_wrap_body
    -- when body() resumes because of trailers; asked again now that the stream has
    -- ended, it adds an empty buffer we can fill.
    body = handle:body(true)
  end
  local promote = {}
  local trailers = handle:trailers()
  if trailers ~= nil then
    envelope_status = envelope_status or trailers:get("x-envelope-status")
    envelope = envelope or trailers:get("x-envelope")
    promote = strip_internal(trailers)
  end

  local status = valid_status(envelope_status)
  local new_body
  if status ~= nil and envelope ~= nil and envelope ~= "" then
    new_body = envelope
  else
    status, new_body = fallback_envelope(handle)
  end

  headers = handle:headers() -- a handle taken before body() is no longer valid
  for _, pair in ipairs(promote) do
    headers:replace(pair[1], pair[2])
  end
  if trailers ~= nil then
    for _, pair in ipairs(promote) do
      trailers:remove(pair[1])
    end
  end
  headers:replace(":status", status)
  headers:replace("content-type", "application/json")
  body:setBytes(new_body)
  headers:replace("content-length", tostring(string.len(new_body)))
end
