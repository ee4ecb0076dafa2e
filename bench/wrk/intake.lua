-- POST /v1/referrals: a valid police referral about a different child every time (a new surname and birthday,
-- so history matching searches and finds nothing, as for most children), with the concerns varied. The keys of
-- several organisations (BENCH_KEYS, comma separated) take turns, as many partners send at once.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local report = require("report")

local keys = {}
for key in string.gmatch(os.getenv("BENCH_KEYS") or "", "[^,]+") do
  keys[#keys + 1] = key
end
-- BENCH_IDEMPOTENCY=1: each referral carries an Idempotency-Key of its own, as a partner that retries safely sends.
local keyed = os.getenv("BENCH_IDEMPOTENCY") == "1"
local threads = {}
local counter = 0
local yesterday = os.date("!%Y-%m-%d", os.time() - 86400)
local this_year = tonumber(os.date("!%Y"))

local first_names = { "Maya", "Leo", "Amira", "Noah", "Isla", "Oscar", "Zara", "Kai" }
local concerns = {
  '["domestic_abuse"]', '["neglect"]', '["domestic_abuse", "parental_mental_health"]',
  '["emotional_abuse"]', '["neglect", "parental_substance_misuse"]', '["physical_abuse"]',
}
local indicators = { '["child_witnessed_abuse"]', '[]', '["home_conditions_poor"]', '[]', '[]', '["injury"]' }

local template = [[{
"referrer": {"name": "PC Bench", "role": "Response officer", "phone": "01632 960000"},
"immediate_danger": false,
"concerns": {"categories": %s, "indicators": %s,
  "summary": "Police called to a domestic incident at the family home; the child was present and upset."},
"children": [{"first_name": "%s", "last_name": "Bench-%d-%d", "date_of_birth": "%04d-%02d-%02d",
  "address": {"line1": "12 Example Road", "postcode": "PE1 1AA"},
  "voice": {"views": "I don't like going home when Dad has been drinking, he shouts.",
            "how_obtained": "Spoken to alone by the attending officer", "recorded_on": "%s"},
  "history": {"known_to_childrens_services": "no", "current_plan": "none"}}],
"consent": {"status": "not_sought", "reason": "Seeking consent could increase the risk to the child."},
"agency_details": {"occurrence_number": "CC-%d", "children_present": true}
}]]

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_number", #threads)
end

function init(args)
  math.randomseed(os.time() + 7919 * thread_number)
  run_mark = math.random(1, 1000000000)
end

function request()
  counter = counter + 1
  local pick = math.random(1, #concerns)
  local born_year = this_year - math.random(1, 17)
  local body = string.format(template, concerns[pick], indicators[pick], first_names[math.random(1, #first_names)],
    run_mark, thread_number * 10000000 + counter, born_year, math.random(1, 12), math.random(1, 28), yesterday, counter)
  local key = keys[(counter % #keys) + 1]
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }
  if keyed then
    headers["Idempotency-Key"] = string.format("bench-%d-%d-%d", run_mark, thread_number, counter)
  end
  return wrk.format("POST", "/v1/referrals", headers, body)
end

done = report.done
