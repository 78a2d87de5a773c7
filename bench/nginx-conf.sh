# Sourced by the benchmarks: `nginx_conf FILE PORT UPSTREAM HEAD` writes the
# reverse proxy the benchmarks compare hapax with (a keep-alive pool to the
# upstream, no buffering, so SSE passes through); HEAD is the lines that
# say how nginx runs (workers, master process).
nginx_conf() {
  cat > "$1" <<CONF
$4
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  upstream llm { server $3; keepalive 128; }
  server {
    listen 127.0.0.1:$2;
    location / {
      proxy_pass http://llm;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
CONF
}
