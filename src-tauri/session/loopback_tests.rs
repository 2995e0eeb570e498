#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const STATE: &str = "Vt4Qm2-state_from-the-service";

fn request(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:49152\r\nAccept: text/html\r\n\r\n")
}

fn code(text: &str) -> Callback {
    Callback::Code(Zeroizing::new(text.to_owned()))
}

#[test]
fn a_callback_is_read_only_with_exactly_our_state() {
    let cases: &[(&str, Callback)] = &[
        (&format!("/callback?code=abc123&state={STATE}"), code("abc123")),
        // Order does not matter, extra parameters (`iss`, `session_state`) are ignored.
        (&format!("/callback?iss=http%3A%2F%2F127.0.0.1%3A1&state={STATE}&code=a%2Bb%2Fc"), code("a+b/c")),
        (&format!("/callback?state={STATE}&error=access_denied&error_description=no"), {
            Callback::ProviderError("access_denied".into())
        }),
        // Whatever the provider writes, the page shows only safe characters.
        (&format!("/callback?state={STATE}&error=%3Cscript%3Ealert(1)%3C%2Fscript%3E"), {
            Callback::ProviderError("scriptalert1script".into())
        }),
        ("/callback?code=abc123&state=another-state", Callback::WrongState),
        ("/callback?code=abc123", Callback::WrongState),
        (&format!("/callback?code=abc123&state={STATE}x"), Callback::WrongState),
        (&format!("/callback?code=abc123&state={}", STATE.to_uppercase()), Callback::WrongState),
        ("/callback?error=access_denied&state=another-state", Callback::WrongState),
        (&format!("/callback?state={STATE}"), Callback::Malformed),
        (&format!("/callback?code=&state={STATE}"), Callback::Malformed),
        (&format!("/callback?code=a&code=b&state={STATE}"), Callback::Malformed),
        (&format!("/callback?code=a&state={STATE}&state=other"), Callback::Malformed),
        ("/favicon.ico", Callback::OtherPath),
        (&format!("/callback/x?code=abc123&state={STATE}"), Callback::OtherPath),
        (&format!("/?code=abc123&state={STATE}"), Callback::OtherPath),
    ];
    for (target, expected) in cases {
        assert_eq!(&parse_request(&request(target), STATE), expected, "{target}");
    }
}

#[test]
fn only_a_get_request_line_is_read() {
    let target = format!("/callback?code=abc123&state={STATE}");
    for head in [
        format!("POST {target} HTTP/1.1\r\n\r\n"),
        format!("GET {target}\r\n\r\n"),
        format!("GET {target} SPDY/3\r\n\r\n"),
        format!("GET http://evil.example{target} HTTP/1.1\r\n\r\n"),
        format!("GET {target} HTTP/1.1 extra\r\n\r\n"),
        String::new(),
        "\u{0}\u{1}binary".to_owned(),
    ] {
        assert_eq!(parse_request(&head, STATE), Callback::Malformed, "{head:?}");
    }
    // An empty expected state never matches (nor does an empty one sent).
    assert_eq!(parse_request(&request("/callback?code=abc&state="), ""), Callback::WrongState);
}

#[test]
fn the_code_never_prints() {
    assert_eq!(format!("{:?}", code("secret-code")), "Code(***)");
}

#[test]
fn pages_say_what_happened_and_are_never_cached() {
    let ok = response_for(&code("abc"));
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("you can close this tab"), "{ok}");
    assert!(ok.contains("Cache-Control: no-store") && ok.contains("Referrer-Policy: no-referrer"));
    let (head, body) = ok.split_once("\r\n\r\n").unwrap();
    assert!(head.contains(&format!("Content-Length: {}", body.len())));
    assert!(!ok.contains("abc"), "the page does not repeat the code");
    assert!(response_for(&Callback::WrongState).starts_with("HTTP/1.1 400"));
    assert!(response_for(&Callback::OtherPath).starts_with("HTTP/1.1 404"));
    let error = response_for(&Callback::ProviderError("access_denied".into()));
    assert!(error.contains("did not complete") && error.contains("access_denied"), "{error}");
}

/// What the listener answers to one request sent over a real socket.
async fn send(port: u16, text: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn the_listener_answers_strays_and_waits_for_our_redirect() {
    let loopback = Loopback::bind().await.unwrap();
    let uri = loopback.redirect_uri();
    let port: u16 = uri.trim_start_matches("http://127.0.0.1:").trim_end_matches(CALLBACK_PATH).parse().unwrap();
    assert_eq!(uri, format!("http://127.0.0.1:{port}/callback"));
    let browser = tokio::spawn(async move {
        let favicon = send(port, &request("/favicon.ico")).await;
        let stranger = send(port, &request("/callback?code=theirs&state=not-ours")).await;
        // A connection that sends nothing and goes away does not stop the listener.
        drop(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
        let ours = send(port, &request(&format!("/callback?code=ours&state={STATE}"))).await;
        (favicon, stranger, ours)
    });
    let outcome = loopback.wait(STATE).await.unwrap();
    let (favicon, stranger, ours) = browser.await.unwrap();
    assert!(matches!(outcome, Outcome::Code(c) if c.as_str() == "ours"));
    assert!(favicon.starts_with("HTTP/1.1 404"), "{favicon}");
    assert!(stranger.starts_with("HTTP/1.1 400") && stranger.contains("does not belong"), "{stranger}");
    assert!(ours.starts_with("HTTP/1.1 200") && ours.contains("Signed in to Wardbook"), "{ours}");
}

#[tokio::test]
async fn a_provider_error_ends_the_wait() {
    let loopback = Loopback::bind().await.unwrap();
    let port = loopback.listener.local_addr().unwrap().port();
    let browser =
        tokio::spawn(
            async move { send(port, &request(&format!("/callback?error=access_denied&state={STATE}"))).await },
        );
    let outcome = loopback.wait(STATE).await.unwrap();
    assert!(matches!(outcome, Outcome::ProviderError(ref e) if e == "access_denied"), "{outcome:?}");
    assert!(browser.await.unwrap().contains("did not complete"));
}
