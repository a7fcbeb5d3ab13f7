-- wrk: POST the photo to /predict as multipart/form-data in the field `file` (what the tutorial client sends),
-- over keep-alive connections. docs/serve.md.
--   PHOTO=photo.jpg wrk -t1 -c1 -d10s --latency -s benchmarks/wrk/predict_multipart.lua http://127.0.0.1:8000/predict
local f = assert(io.open(os.getenv("PHOTO") or "photo.jpg", "rb"))
local data = f:read("*a")
f:close()
local boundary = "edgeinferwrk7MA4YWxkTrZu0gW"
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n"
  .. "Content-Type: image/jpeg\r\n\r\n" .. data .. "\r\n--" .. boundary .. "--\r\n"
