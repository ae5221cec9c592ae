// Deterministic log-like text shared by the criterion bench and the throughput example.

const LINES: &[&str] = &[
    r#"10.2.3.4 - - [01/May/2024:10:00:00 +0000] "GET /api/v1/orders?page=2&size=50 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64)" rt=0.012"#,
    r#"time="2024-05-01T10:00:00Z" level=info msg="reconciled deployment" namespace=prod name=orders replicas=3 duration=12.3ms"#,
    r#"{"ts":"2024-05-01T10:00:00.123Z","level":"debug","logger":"http.client","msg":"refreshing access token before expiry","expires_in":300,"host":"auth.internal"}"#,
    "2024-05-01 10:00:00.123  WARN 1 --- [nio-8080-exec-7] o.s.web.servlet.PageNotFound : No mapping for GET /favicon.ico",
    "java.lang.IllegalStateException: Connection pool exhausted (max=20, active=20, idle=0, waiting=14)",
    "\tat com.example.orders.repository.OrderRepository.findByCustomer(OrderRepository.java:142)",
    "\tat org.springframework.aop.framework.ReflectiveMethodInvocation.proceed(ReflectiveMethodInvocation.java:186)",
    "I0501 10:00:00.123456       1 event.go:294] \"Event occurred\" object=\"prod/orders-7d9f8b6c5-x2x4z\" kind=\"Pod\" reason=\"Pulled\" message=\"Successfully pulled image\"",
    "May  1 10:00:00 node-3 kernel: [123456.789012] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=orders,task=java,pid=4242,uid=1000",
    "2024-05-01T10:00:01Z INFO  fetching https://registry.example.com/v2/orders/manifests/sha256:4f2a9c0b7d1e4a5f6b8c9d0e1f2a3b4c",
    "2024-05-01T10:00:01Z DEBUG session store: 1843 sessions, secret rotation due in 3h, password policy v2 loaded",
    "level=error ts=2024-05-01T10:00:02Z caller=scrape.go:1234 component=\"scrape manager\" msg=\"scrape failed\" err=\"context deadline exceeded\"",
    "2024-05-01T10:00:02Z INFO  [grpc] picked subchannel 10.244.1.17:9090 for /orders.v1.Orders/List (token bucket 48/50)",
];

const SECRETS: &[&str] = &[
    "2024-05-01T10:00:03Z DEBUG connecting to postgres://orders:S3cretPw-991@db.internal:5432/orders?sslmode=require",
    "2024-05-01T10:00:03Z DEBUG request headers: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLWJ5dGVz",
    "2024-05-01T10:00:03Z DEBUG config {password: hunter2-xyz, pool: 10}",
];

/// Deterministic log-like text of about `bytes` bytes.
fn log_text(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 256);
    let mut i: usize = 0;
    while out.len() < bytes {
        let line = if i % 1000 == 999 {
            SECRETS[(i / 1000) % SECRETS.len()]
        } else {
            LINES[(i * 7) % LINES.len()]
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        i += 1;
    }
    out
}
