-- GET one path (BENCH_PATH, default /healthz), with a bearer key when BENCH_KEY is set.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local report = require("report")

local path = os.getenv("BENCH_PATH") or "/healthz"
local key = os.getenv("BENCH_KEY")
local headers = {}
if key and key ~= "" then
  headers["Authorization"] = "Bearer " .. key
end

function request()
  return wrk.format("GET", path, headers)
end

done = report.done
