//! The demo origin: the app Portcullis protects in `portcullis demo`, and the echo server the
//! integration tests put behind a gateway.
//!
//! It trusts nothing and verifies nothing: it shows what it received, including the decoded (not
//! verified) payload of `Cf-Access-Jwt-Assertion`, so that a newcomer can see the identity a
//! protected app gets and a test can assert on exactly what the gateway forwarded.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::html::{Banner, escape, page, page_response};

/// The largest request body the echo reads; larger bodies are answered with 413.
pub const MAX_ECHO_BODY: usize = 8 * 1024 * 1024;

/// Upper bounds for `/stream`, so that a stray request cannot make the demo allocate without end.
const MAX_STREAM_CHUNKS: u32 = 10_000;
const MAX_STREAM_CHUNK_SIZE: usize = 1024 * 1024;
const MAX_STREAM_DELAY_MS: u64 = 10_000;

/// The header Portcullis (like Cloudflare Access) puts the authenticated user's email in.
const EMAIL_HEADER: &str = "cf-access-authenticated-user-email";
/// The header carrying the application token (a JWT) for the origin.
const ASSERTION_HEADER: &str = "cf-access-jwt-assertion";

/// Builds the demo origin's routes.
///
/// Called once per origin listener by `portcullis demo` and by the test kit. Returns a router
/// that answers:
/// - `/echo` and `/echo/*` (any method): the request as JSON — `method`, `path`, `query` (raw,
///   without `?`, empty when absent), `headers` (name → value, or array of values when repeated),
///   `body` (UTF-8, lossy) and `body_len`. Bodies over [`MAX_ECHO_BODY`] get 413.
/// - `/ws`: a WebSocket that echoes text and binary messages back.
/// - `/stream?chunks=N&size=S&delay_ms=D`: a streamed (chunked) body of `N` chunks of `S` bytes,
///   chunk `i` filled with the letter `a + i mod 26`, `D` milliseconds apart.
/// - `/status/{code}`: an answer with that status (200–599).
/// - anything else: an HTML "Hello <email>" page when the client accepts HTML, the JSON echo
///   otherwise.
pub fn origin_router() -> Router {
    Router::new()
        .route("/echo", any(echo_json))
        .route("/echo/{*rest}", any(echo_json))
        .route("/ws", any(websocket))
        .route("/stream", get(stream))
        .route("/status/{code}", any(status))
        .fallback(echo_or_page)
}

async fn echo_json(request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(&parts.headers, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let query = parts.uri.query().unwrap_or_default();
    let echo = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": query,
        "headers": headers_json(&parts.headers),
        "body": String::from_utf8_lossy(&body),
        "body_len": body.len(),
    });
    let mut response = axum::Json(echo).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn echo_or_page(request: Request) -> Response {
    if accepts_html(request.headers()) {
        identity_page(request.headers())
    } else {
        echo_json(request).await
    }
}

/// Reads the request body up to [`MAX_ECHO_BODY`]; the error is the response to send instead.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(json!({ "error": "body_too_large", "limit": MAX_ECHO_BODY })),
        )
            .into_response()
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_ECHO_BODY as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_ECHO_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(error) => {
            tracing::debug!(error = %error, "demo origin could not read a request body");
            Err((
                StatusCode::BAD_REQUEST,
                axum::Json(json!({ "error": "body_unreadable" })),
            )
                .into_response())
        }
    }
}

/// Header name → value, or → array of values when the header was sent more than once.
fn headers_json(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let mut values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = if values.len() == 1 {
            values.remove(0)
        } else {
            Value::Array(values)
        };
        out.insert(name.as_str().to_owned(), value);
    }
    Value::Object(out)
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Decodes the payload segment of a compact JWS for display, without checking anything.
fn decode_unverified_payload(token: &str) -> Result<String, &'static str> {
    let mut segments = token.trim().split('.');
    let payload = match (segments.next(), segments.next(), segments.next()) {
        (Some(_), Some(payload), Some(_)) => payload,
        _ => return Err("it does not have the three dot-separated parts of a JWT"),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "its payload is not base64url")?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| "its payload is not JSON")?;
    serde_json::to_string_pretty(&value).map_err(|_| "its payload could not be re-encoded")
}

fn identity_page(headers: &HeaderMap) -> Response {
    let email = header_text(headers, EMAIL_HEADER);
    let title = match &email {
        Some(email) => format!("Hello {email}"),
        None => "Hello, whoever you are".to_owned(),
    };
    let mut body = String::new();
    match &email {
        Some(_) => body.push_str(
            "<p>Portcullis let you through and told this app who you are in the \
             <code>Cf-Access-Authenticated-User-Email</code> header.</p>",
        ),
        None => body.push_str(
            "<p>This request carried no <code>Cf-Access-Authenticated-User-Email</code> header, \
             so it did not come through Portcullis.</p>",
        ),
    }
    body.push_str(
        "<p><a href=\"/cdn-cgi/access/get-identity\">Your full identity (get-identity)</a> · \
         <a href=\"/cdn-cgi/access/logout\">Log out</a></p>",
    );

    body.push_str("<h2>Application token (<code>Cf-Access-Jwt-Assertion</code>)</h2>");
    match header_text(headers, ASSERTION_HEADER) {
        Some(token) => {
            body.push_str(
                "<p class=\"muted\">Decoded, <strong>not verified</strong>: this demo only shows \
                 the payload. A real app must verify the signature against the team's certs \
                 endpoint and check <code>aud</code>, <code>iss</code> and <code>exp</code>.</p>",
            );
            match decode_unverified_payload(&token) {
                Ok(pretty) => {
                    body.push_str("<pre>");
                    body.push_str(&escape(&pretty));
                    body.push_str("</pre>");
                }
                Err(reason) => {
                    body.push_str(
                        "<p class=\"error\">The header is there but could not be decoded: ",
                    );
                    body.push_str(&escape(reason));
                    body.push_str(".</p>");
                }
            }
        }
        None => body.push_str("<p>None received.</p>"),
    }

    body.push_str(
        "<h2>Request headers</h2><table><caption class=\"muted\">Every header this request \
         carried</caption><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Value</th>\
         </tr></thead><tbody>",
    );
    for (name, value) in headers {
        body.push_str("<tr><th scope=\"row\"><code>");
        body.push_str(&escape(name.as_str()));
        body.push_str("</code></th><td><code>");
        body.push_str(&escape(&String::from_utf8_lossy(value.as_bytes())));
        body.push_str("</code></td></tr>");
    }
    body.push_str("</tbody></table>");

    page_response(StatusCode::OK, page(Banner::Origin, &title, &body))
}

async fn websocket(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(echo_socket)
}

async fn echo_socket(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            Message::Close(_) => break,
            // The WebSocket layer answers pings itself.
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}

#[derive(Debug, Deserialize)]
struct StreamParams {
    chunks: Option<u32>,
    size: Option<usize>,
    delay_ms: Option<u64>,
}

async fn stream(Query(params): Query<StreamParams>) -> Response {
    let chunks = params.chunks.unwrap_or(5);
    let size = params.size.unwrap_or(1024);
    let delay_ms = params.delay_ms.unwrap_or(0);
    if chunks > MAX_STREAM_CHUNKS || size > MAX_STREAM_CHUNK_SIZE || delay_ms > MAX_STREAM_DELAY_MS
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "error": "out_of_range",
                "max_chunks": MAX_STREAM_CHUNKS,
                "max_size": MAX_STREAM_CHUNK_SIZE,
                "max_delay_ms": MAX_STREAM_DELAY_MS,
            })),
        )
            .into_response();
    }
    let delay = Duration::from_millis(delay_ms);
    let chunks_stream = futures_util::stream::unfold(0u32, move |index| async move {
        if index >= chunks {
            return None;
        }
        if index > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let letter = b'a' + (index % 26) as u8;
        Some((
            Ok::<_, Infallible>(Bytes::from(vec![letter; size])),
            index + 1,
        ))
    });
    let mut response = Body::from_stream(chunks_stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

async fn status(Path(code): Path<String>) -> Response {
    let Some(status) = code
        .parse::<u16>()
        .ok()
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
    else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "status must be a number from 200 to 599" })),
        )
            .into_response();
    };
    // These statuses must not carry a body.
    if matches!(status.as_u16(), 204 | 205 | 304) {
        return status.into_response();
    }
    (status, axum::Json(json!({ "status": status.as_u16() }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Method, Request as HttpRequest};
    use tower::ServiceExt;

    async fn send(request: HttpRequest<Body>) -> (StatusCode, HeaderMap, Bytes) {
        let response = origin_router().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, body)
    }

    fn json_of(body: &Bytes) -> Value {
        serde_json::from_slice(body).unwrap()
    }

    #[tokio::test]
    async fn echo_shows_method_path_query_headers_and_body() {
        let request = HttpRequest::builder()
            .method(Method::POST)
            .uri("/echo/some/path?a=1&b=two")
            .header("x-one", "1")
            .header("x-many", "first")
            .header("x-many", "second")
            .header("content-type", "text/plain")
            .body(Body::from("héllo body"))
            .unwrap();
        let (status, _, body) = send(request).await;
        assert_eq!(status, StatusCode::OK);
        let echo = json_of(&body);
        assert_eq!(echo["method"], "POST");
        assert_eq!(echo["path"], "/echo/some/path");
        assert_eq!(echo["query"], "a=1&b=two");
        assert_eq!(echo["headers"]["x-one"], "1");
        assert_eq!(echo["headers"]["x-many"], json!(["first", "second"]));
        assert_eq!(echo["body"], "héllo body");
        assert_eq!(echo["body_len"], "héllo body".len());
    }

    #[tokio::test]
    async fn echo_is_json_at_echo_even_for_browsers() {
        let request = HttpRequest::builder()
            .uri("/echo")
            .header("accept", "text/html")
            .body(Body::empty())
            .unwrap();
        let (_, headers, body) = send(request).await;
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(json_of(&body)["query"], "");
    }

    #[tokio::test]
    async fn other_paths_echo_json_to_non_browsers() {
        let request = HttpRequest::builder()
            .method(Method::PUT)
            .uri("/anything/else")
            .header("accept", "application/json")
            .body(Body::empty())
            .unwrap();
        let (_, _, body) = send(request).await;
        let echo = json_of(&body);
        assert_eq!(echo["method"], "PUT");
        assert_eq!(echo["path"], "/anything/else");
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused() {
        let big = vec![b'x'; MAX_ECHO_BODY + 1];
        // Once with a declared length, once streamed without one.
        let declared = HttpRequest::builder()
            .method(Method::POST)
            .uri("/echo")
            .header("content-length", big.len().to_string())
            .body(Body::from(big.clone()))
            .unwrap();
        assert_eq!(send(declared).await.0, StatusCode::PAYLOAD_TOO_LARGE);
        let chunks = futures_util::stream::iter(
            big.chunks(1024 * 1024)
                .map(|c| Ok::<_, Infallible>(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        let streamed = HttpRequest::builder()
            .method(Method::POST)
            .uri("/echo")
            .body(Body::from_stream(chunks))
            .unwrap();
        assert_eq!(send(streamed).await.0, StatusCode::PAYLOAD_TOO_LARGE);
        let fits = HttpRequest::builder()
            .method(Method::POST)
            .uri("/echo")
            .body(Body::from(vec![b'x'; MAX_ECHO_BODY]))
            .unwrap();
        let (status, _, body) = send(fits).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json_of(&body)["body_len"], MAX_ECHO_BODY);
    }

    fn token_with_payload(payload: &Value) -> String {
        let encode = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        format!(
            "{}.{}.c2ln",
            encode(&json!({"alg": "RS256"})),
            encode(payload)
        )
    }

    #[tokio::test]
    async fn page_greets_the_user_and_shows_the_unverified_token_payload() {
        let token = token_with_payload(&json!({"email": "alice@example.com", "aud": ["abc"]}));
        let request = HttpRequest::builder()
            .uri("/")
            .header("accept", "text/html,application/xhtml+xml")
            .header(EMAIL_HEADER, "alice@example.com")
            .header(ASSERTION_HEADER, token)
            .body(Body::empty())
            .unwrap();
        let (status, headers, body) = send(request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(html.contains("<h1>Hello alice@example.com</h1>"));
        assert!(html.contains("not verified"));
        assert!(html.contains("&quot;aud&quot;: [\n    &quot;abc&quot;\n  ]"));
        assert!(html.contains("href=\"/cdn-cgi/access/get-identity\""));
        assert!(html.contains("href=\"/cdn-cgi/access/logout\""));
    }

    #[tokio::test]
    async fn page_escapes_hostile_header_values_and_token_claims() {
        let token = token_with_payload(&json!({"name": "</pre><script>alert(2)</script>"}));
        let request = HttpRequest::builder()
            .uri("/")
            .header("accept", "text/html")
            .header(EMAIL_HEADER, "<img src=x onerror=alert(1)>@evil")
            .header("x-evil", "\"><script>alert(3)</script>")
            .header(ASSERTION_HEADER, token)
            .body(Body::empty())
            .unwrap();
        let (_, _, body) = send(request).await;
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("Hello &lt;img src=x onerror=alert(1)&gt;@evil"));
        assert!(html.contains("&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"));
    }

    #[tokio::test]
    async fn page_says_when_no_identity_arrived_or_the_token_is_garbage() {
        let anonymous = HttpRequest::builder()
            .uri("/")
            .header("accept", "text/html")
            .body(Body::empty())
            .unwrap();
        let html = String::from_utf8(send(anonymous).await.2.to_vec()).unwrap();
        assert!(html.contains("did not come through Portcullis"));

        let garbage = HttpRequest::builder()
            .uri("/")
            .header("accept", "text/html")
            .header(ASSERTION_HEADER, "not-a-jwt")
            .body(Body::empty())
            .unwrap();
        let html = String::from_utf8(send(garbage).await.2.to_vec()).unwrap();
        assert!(html.contains("could not be decoded"));
    }

    #[tokio::test]
    async fn status_route_answers_the_requested_status() {
        for (path, expected) in [
            ("/status/418", StatusCode::IM_A_TEAPOT),
            ("/status/503", StatusCode::SERVICE_UNAVAILABLE),
            ("/status/204", StatusCode::NO_CONTENT),
            ("/status/101", StatusCode::BAD_REQUEST),
            ("/status/nope", StatusCode::BAD_REQUEST),
        ] {
            let request = HttpRequest::builder()
                .uri(path)
                .body(Body::empty())
                .unwrap();
            assert_eq!(send(request).await.0, expected, "{path}");
        }
    }

    #[tokio::test]
    async fn stream_sends_the_requested_chunks() {
        let request = HttpRequest::builder()
            .uri("/stream?chunks=3&size=4")
            .body(Body::empty())
            .unwrap();
        let response = origin_router().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get(header::CONTENT_LENGTH).is_none());
        let mut body = response.into_body();
        let mut frames = Vec::new();
        while let Some(frame) = body.frame().await {
            frames.push(frame.unwrap().into_data().unwrap());
        }
        assert_eq!(frames, vec![&b"aaaa"[..], &b"bbbb"[..], &b"cccc"[..]]);

        let too_big = HttpRequest::builder()
            .uri("/stream?chunks=10001")
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(too_big).await.0, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn websocket_echoes_text_and_binary_messages() {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message as WsMessage;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(crate::serve(listener, origin_router()));
        let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        client.send(WsMessage::text("hello")).await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            WsMessage::text("hello")
        );
        client
            .send(WsMessage::binary(vec![0u8, 1, 2, 255]))
            .await
            .unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            WsMessage::binary(vec![0u8, 1, 2, 255])
        );
        client.close(None).await.unwrap();
        server.abort();
    }
}
