-- wrk: POST the photo to /predict as raw image/jpeg bytes over keep-alive connections (a native client: about
-- 0.2 ms of CPU per request here, against 1-2 ms for httpx and 2-3 ms for requests.post). docs/serve.md.
--   PHOTO=photo.jpg wrk -t1 -c1 -d10s --latency -s benchmarks/wrk/predict_raw.lua http://127.0.0.1:8000/predict
local f = assert(io.open(os.getenv("PHOTO") or "photo.jpg", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "image/jpeg"
