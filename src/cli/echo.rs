//! `tollgate echo`: a tiny, fast upstream for the quick start and for wrk.
//!
//! Answers every request with `200 ok`. With `?echo` in the query (or an `X-Echo`
//! header) it answers with a JSON description of the request it received instead,
//! which shows what the gateway forwarded (stripped listen path, headers, ...).

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use tokio::net::TcpListener;

async fn answer(req: Request<Incoming>) -> Response<Full<Bytes>> {
    let wants_echo = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "echo" || p.starts_with("echo=")))
        || req.headers().contains_key("x-echo");
    if !wants_echo {
        // Drain the request body so the connection stays reusable.
        let _ = req.into_body().collect().await;
        return Response::new(Full::new(Bytes::from_static(b"ok")));
    }
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                serde_json::Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let doc = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let mut r = Response::new(Full::new(Bytes::from(doc.to_string())));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Serves forever on `listener`.
pub async fn serve(listener: TcpListener) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let b = builder.clone();
        tokio::spawn(async move {
            let svc = service_fn(|req| async { Ok::<_, Infallible>(answer(req).await) });
            let _ = b.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

pub async fn run(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "echo upstream listening");
    serve(listener).await;
    Ok(())
}
