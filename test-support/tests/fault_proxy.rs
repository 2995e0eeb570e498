//! The fault-injecting proxy against small upstreams of our own (an echo
//! server and a fixed-response server on plain threads): faithful forwarding,
//! each kind of cut at its exact byte, refusals, plan changes on open
//! connections, `cut_all`, `stop`, and the seeded plan's decisions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::Duration;

use wardbook_test_support::{Cut, FaultPlan, FaultProxy};

/// How long any single wait (a read, an upstream report) may take before the
/// test fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(10);

/// How a connection ended, as one side saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// An orderly end of stream.
    Eof,
    /// A reset (or abort) from the other side.
    Reset,
}

/// What one upstream connection received, reported when it ended.
#[derive(Debug)]
struct Seen {
    bytes: Vec<u8>,
    end: End,
}

/// What an upstream does with each connection.
#[derive(Clone)]
enum Behaviour {
    /// Echo every byte back; on end of stream, close in order.
    Echo,
    /// Once `after` bytes have arrived, send `response` (once); keep reading
    /// until the connection ends.
    Respond { after: usize, response: Arc<Vec<u8>> },
}

/// A tiny upstream server on 127.0.0.1: one thread per connection, each
/// reporting what it received when its connection ends.
struct Upstream {
    addr: SocketAddr,
    seen: Receiver<Seen>,
}

impl Upstream {
    fn start(behaviour: Behaviour) -> Upstream {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the upstream");
        let addr = listener.local_addr().expect("the upstream's address");
        let (report, seen) = mpsc::channel();
        // The accept thread lives until the test process ends.
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (behaviour, report) = (behaviour.clone(), report.clone());
                thread::spawn(move || serve_upstream(stream, &behaviour, &report));
            }
        });
        Upstream { addr, seen }
    }

    /// The report of the next upstream connection to end.
    fn next_seen(&self) -> Seen {
        self.seen.recv_timeout(DEADLINE).expect("an upstream connection to end")
    }

    /// Asserts that no upstream connection has ended that was not taken yet.
    fn assert_nothing_more(&self) {
        if let Ok(seen) = self.seen.try_recv() {
            panic!("an unexpected upstream connection: {} bytes, {:?}", seen.bytes.len(), seen.end);
        }
    }
}

fn serve_upstream(mut stream: TcpStream, behaviour: &Behaviour, report: &Sender<Seen>) {
    stream.set_read_timeout(Some(DEADLINE)).expect("set the upstream's read timeout");
    let mut bytes = Vec::new();
    let mut responded = false;
    let mut buffer = [0; 8192];
    let end = loop {
        let read = match stream.read(&mut buffer) {
            Ok(0) => break End::Eof,
            Ok(read) => read,
            Err(error) => break end_of(&error),
        };
        bytes.extend_from_slice(&buffer[..read]);
        match behaviour {
            Behaviour::Echo => {
                // A failed write shows up in the next read.
                let _ = stream.write_all(&buffer[..read]);
            }
            Behaviour::Respond { after, response } => {
                if !responded && bytes.len() >= *after {
                    responded = true;
                    let _ = stream.write_all(response);
                }
            }
        }
    };
    if matches!(behaviour, Behaviour::Echo) && end == End::Eof {
        let _ = stream.shutdown(Shutdown::Write);
    }
    let _ = report.send(Seen { bytes, end });
}

/// Classifies a failed read: a reset, or a test failure (a timeout means the
/// proxy neither forwarded nor cut).
fn end_of(error: &std::io::Error) -> End {
    match error.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => End::Reset,
        _ => panic!("reading failed other than by a reset: {error}"),
    }
}

/// Connects a client to the proxy, with a read timeout.
fn connect(proxy: &FaultProxy) -> TcpStream {
    let stream = TcpStream::connect(proxy.addr()).expect("connect to the proxy");
    stream.set_read_timeout(Some(DEADLINE)).expect("set the client's read timeout");
    stream
}

/// Reads until `limit` bytes have arrived or the connection ends, returning
/// the bytes and how it ended (`None` when the limit was reached first).
fn read_up_to(stream: &mut TcpStream, limit: usize) -> (Vec<u8>, Option<End>) {
    let mut bytes = Vec::new();
    let mut buffer = [0; 8192];
    while bytes.len() < limit {
        let wanted = buffer.len().min(limit - bytes.len());
        match stream.read(&mut buffer[..wanted]) {
            Ok(0) => return (bytes, Some(End::Eof)),
            Ok(read) => bytes.extend_from_slice(&buffer[..read]),
            Err(error) => return (bytes, Some(end_of(&error))),
        }
    }
    (bytes, None)
}

/// Reads until the connection ends.
fn read_to_end(stream: &mut TcpStream) -> (Vec<u8>, End) {
    let (bytes, end) = read_up_to(stream, usize::MAX);
    (bytes, end.expect("the connection to end"))
}

/// Sends `bytes` and reads their echo back in full.
fn round_trip(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).expect("send a request");
    let (echoed, end) = read_up_to(stream, bytes.len());
    assert_eq!(end, None, "the echo was cut short after {} bytes", echoed.len());
    assert_eq!(echoed, bytes);
}

/// Deterministic, non-repeating test data.
fn data(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) ^ (i >> 8)).wrapping_add(usize::from(salt)) as u8).collect()
}

#[test]
fn pass_forwards_both_ways_exactly() {
    let upstream = Upstream::start(Behaviour::Echo);
    let proxy = FaultProxy::start(upstream.addr);
    assert_eq!(proxy.url(), format!("http://127.0.0.1:{}", proxy.addr().port()));
    assert!(format!("{proxy:?}").contains(&proxy.addr().to_string()));

    let request = data(300_000, 1);
    let mut client = connect(&proxy);
    // Write from another thread: the echo comes back while we still send.
    let writer = {
        let mut client = client.try_clone().expect("clone the client");
        let request = request.clone();
        thread::spawn(move || {
            client.write_all(&request).expect("send the request");
            client.shutdown(Shutdown::Write).expect("half-close the client");
        })
    };
    let (echoed, end) = read_to_end(&mut client);
    writer.join().expect("the writer");
    // The half-close went through to upstream and the echo's end came back.
    assert_eq!(end, End::Eof);
    assert_eq!(echoed.len(), request.len());
    assert!(echoed == request, "the echo differs from the request");
    let seen = upstream.next_seen();
    assert_eq!(seen.end, End::Eof);
    assert!(seen.bytes == request, "upstream received other bytes than were sent");
    assert_eq!(proxy.cuts(), 0);
    upstream.assert_nothing_more();
}

#[test]
fn client_bytes_forwards_exactly_n_then_cuts_mid_request() {
    // The upstream never answers: the request is never complete.
    let upstream = Upstream::start(Behaviour::Respond { after: usize::MAX, response: Arc::default() });
    let proxy = FaultProxy::start(upstream.addr);
    proxy.set_plan(FaultPlan::Always(Cut::ClientBytes(1000)));

    let request = data(3000, 2);
    let mut client = connect(&proxy);
    client.write_all(&request).expect("send the request");
    let (response, end) = read_to_end(&mut client);
    assert_eq!((response.len(), end), (0, End::Reset));
    let seen = upstream.next_seen();
    assert_eq!(seen.bytes.len(), 1000);
    assert!(seen.bytes == request[..1000], "upstream received other bytes than the first 1000");
    assert_eq!(proxy.cuts(), 1);
}

#[test]
fn client_bytes_cut_comes_with_the_next_byte_between_requests() {
    let upstream = Upstream::start(Behaviour::Echo);
    let proxy = FaultProxy::start(upstream.addr);
    proxy.set_plan(FaultPlan::Always(Cut::ClientBytes(1000)));

    let mut client = connect(&proxy);
    // Exactly the limit, in two requests: both answered in full.
    round_trip(&mut client, &data(400, 3));
    round_trip(&mut client, &data(600, 4));
    assert_eq!(proxy.cuts(), 0);
    // One byte more: cut, and that byte never reaches upstream.
    client.write_all(b"x").expect("send one more byte");
    let (response, end) = read_to_end(&mut client);
    assert_eq!((response.len(), end), (0, End::Reset));
    let seen = upstream.next_seen();
    assert_eq!(seen.bytes.len(), 1000);
    assert_eq!(proxy.cuts(), 1);
}

#[test]
fn server_bytes_forwards_exactly_n_then_cuts_mid_response() {
    let response = Arc::new(data(200_000, 5));
    let upstream = Upstream::start(Behaviour::Respond { after: 100, response: Arc::clone(&response) });
    let proxy = FaultProxy::start(upstream.addr);
    proxy.set_plan(FaultPlan::Always(Cut::ServerBytes(30_000)));

    let request = data(100, 6);
    let mut client = connect(&proxy);
    client.write_all(&request).expect("send the request");
    let (received, end) = read_to_end(&mut client);
    assert_eq!((received.len(), end), (30_000, End::Reset));
    assert!(received == response[..30_000], "the client received other bytes than the response's first 30000");
    let seen = upstream.next_seen();
    assert!(seen.bytes == request, "upstream did not receive the whole request");
    assert_eq!(proxy.cuts(), 1);
}

#[test]
fn before_response_delivers_the_request_and_no_response_byte() {
    let upstream = Upstream::start(Behaviour::Respond { after: 5000, response: Arc::new(data(1000, 7)) });
    let proxy = FaultProxy::start(upstream.addr);
    proxy.set_plan(FaultPlan::Always(Cut::BeforeResponse));

    let request = data(5000, 8);
    let mut client = connect(&proxy);
    client.write_all(&request).expect("send the request");
    let (received, end) = read_to_end(&mut client);
    assert_eq!((received.len(), end), (0, End::Reset));
    let seen = upstream.next_seen();
    assert!(seen.bytes == request, "upstream did not receive the whole request ({} bytes)", seen.bytes.len());
    assert_eq!(proxy.cuts(), 1);
}

/// After connections that must not have reached upstream, checks that the
/// next one upstream sees is a fresh, faithfully forwarded one.
fn assert_upstream_sees_only_the_next_connection(proxy: &FaultProxy, upstream: &Upstream) {
    proxy.set_plan(FaultPlan::Pass);
    let marker = b"the first connection upstream sees";
    let mut client = connect(proxy);
    round_trip(&mut client, marker);
    client.shutdown(Shutdown::Write).expect("half-close the client");
    assert_eq!(read_to_end(&mut client), (Vec::new(), End::Eof));
    let seen = upstream.next_seen();
    assert_eq!(seen.bytes, marker, "upstream saw another connection first");
    upstream.assert_nothing_more();
}

#[test]
fn at_connect_closes_before_any_byte_without_reaching_upstream() {
    let upstream = Upstream::start(Behaviour::Echo);
    let proxy = FaultProxy::start(upstream.addr);
    proxy.set_plan(FaultPlan::Always(Cut::AtConnect));

    let mut client = connect(&proxy);
    let (received, end) = read_to_end(&mut client);
    assert_eq!((received.len(), end), (0, End::Reset));
    assert_eq!(proxy.cuts(), 1);
    assert_upstream_sees_only_the_next_connection(&proxy, &upstream);
    assert_eq!(proxy.cuts(), 1);
}

#[test]
fn refuse_closes_every_new_connection_but_not_open_ones() {
    let upstream = Upstream::start(Behaviour::Echo);
    let proxy = FaultProxy::start(upstream.addr);
    let mut open = connect(&proxy);
    round_trip(&mut open, b"before");

    proxy.set_plan(FaultPlan::Refuse);
    for _ in 0..3 {
        let mut client = connect(&proxy);
        let (received, end) = read_to_end(&mut client);
        assert_eq!((received.len(), end), (0, End::Reset));
    }
    assert_eq!(proxy.cuts(), 3);
    // The connection opened before is still forwarded.
    round_trip(&mut open, b"after");
    drop(open);
    assert_eq!(upstream.next_seen().bytes, b"beforeafter");
    assert_upstream_sees_only_the_next_connection(&proxy, &upstream);
    assert_eq!(proxy.cuts(), 3);
}

#[test]
fn set_plan_reaches_open_connections() {
    let upstream = Upstream::start(Behaviour::Echo);
    let proxy = FaultProxy::start(upstream.addr);

    // Armed at accept, disarmed by Pass before the limit is reached.
    proxy.set_plan(FaultPlan::Always(Cut::ServerBytes(10)));
    let mut client = connect(&proxy);
    // Make sure the connection was accepted (under the plan) before Pass.
    client.write_all(b"12345").expect("send");
    assert_eq!(read_up_to(&mut client, 5), (b"12345".to_vec(), None));
    proxy.set_plan(FaultPlan::Pass);
    round_trip(&mut client, &data(5000, 9));
    assert_eq!(proxy.cuts(), 0);

    // A kept-alive connection: the next request is cut before its response.
    proxy.set_plan(FaultPlan::Always(Cut::BeforeResponse));
    client.write_all(b"next request").expect("send the next request");
    let (received, end) = read_to_end(&mut client);
    assert_eq!((received.len(), end), (0, End::Reset));
    let seen = upstream.next_seen();
    assert_eq!(seen.bytes.len(), 5 + 5000 + b"next request".len());
    assert!(seen.bytes.ends_with(b"next request"));
    assert_eq!(proxy.cuts(), 1);
}

#[test]
fn cut_all_closes_every_open_connection() {
    let upstream = Upstream::start(Behaviour::Echo);
    let proxy = FaultProxy::start(upstream.addr);
    let mut first = connect(&proxy);
    let mut second = connect(&proxy);
    round_trip(&mut first, b"first");
    round_trip(&mut second, b"second");

    proxy.cut_all();
    for client in [&mut first, &mut second] {
        let (received, end) = read_to_end(client);
        assert_eq!((received.len(), end), (0, End::Reset));
    }
    let mut seen = [upstream.next_seen().bytes, upstream.next_seen().bytes];
    seen.sort();
    assert_eq!(seen, [b"first".to_vec(), b"second".to_vec()]);
    assert_eq!(proxy.cuts(), 2);
    // New connections are forwarded as before.
    assert_upstream_sees_only_the_next_connection(&proxy, &upstream);
    assert_eq!(proxy.cuts(), 2);
}

#[test]
fn stop_closes_connections_and_the_listener() {
    let upstream = Upstream::start(Behaviour::Echo);
    let proxy = FaultProxy::start(upstream.addr);
    let addr = proxy.addr();
    let mut client = connect(&proxy);
    round_trip(&mut client, b"hello");

    proxy.stop();
    // The connection's task is gone, and with it both of its sockets.
    let (received, end) = read_to_end(&mut client);
    assert_eq!((received.len(), end), (0, End::Eof));
    let seen = upstream.next_seen();
    assert_eq!((seen.bytes.as_slice(), seen.end), (&b"hello"[..], End::Eof));
    let refused = TcpStream::connect(addr).expect_err("the proxy still accepts connections after stop");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn stop_from_an_async_test() {
    // The proxy's runtime is its own: starting, using and stopping it from
    // inside another runtime must work.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let upstream = Upstream::start(Behaviour::Echo);
        let proxy = FaultProxy::start(upstream.addr);
        let mut client = connect(&proxy);
        round_trip(&mut client, b"inside a runtime");
        drop(proxy);
        assert_eq!(read_to_end(&mut client).1, End::Eof);
    });
}

#[test]
fn decide_is_pure_and_seeded() {
    let plan = FaultPlan::Seeded { seed: 42, cut_probability: 0.5 };
    let first: Vec<_> = (0..1000).map(|n| plan.decide(n)).collect();
    // The same seed gives the same decisions, in any order of asking.
    let again: Vec<_> = (0..1000).rev().map(|n| plan.decide(n)).rev().collect();
    assert_eq!(first, again);
    assert_eq!(FaultPlan::Seeded { seed: 42, cut_probability: 0.5 }.decide(17), first[17]);
    // Another seed gives other decisions; so do other connection numbers.
    let other: Vec<_> = (0..1000).map(|n| FaultPlan::Seeded { seed: 43, cut_probability: 0.5 }.decide(n)).collect();
    assert!(first.iter().zip(&other).filter(|(a, b)| a != b).count() > 300, "seeds 42 and 43 decide alike");
    let distinct: std::collections::HashSet<_> = first.iter().flatten().collect();
    assert!(distinct.len() > 100, "connections do not draw independently: {} distinct cuts", distinct.len());

    assert_eq!(FaultPlan::Pass.decide(3), None);
    assert_eq!(FaultPlan::Always(Cut::ServerBytes(7)).decide(3), Some(Cut::ServerBytes(7)));
    assert_eq!(FaultPlan::Refuse.decide(3), Some(Cut::AtConnect));
}

#[test]
fn seeded_decisions_follow_the_probability_and_ranges() {
    let decide_all = |p: f64| -> Vec<Option<Cut>> {
        (0..4000).map(|n| FaultPlan::Seeded { seed: 7, cut_probability: p }.decide(n)).collect()
    };
    assert!(decide_all(0.0).iter().all(Option::is_none));
    assert!(decide_all(f64::NAN).iter().all(Option::is_none));
    assert!(decide_all(1.0).iter().all(Option::is_some));
    assert!(decide_all(2.0).iter().all(Option::is_some));

    let decisions = decide_all(0.3);
    let cuts: Vec<Cut> = decisions.iter().flatten().copied().collect();
    let share = cuts.len() as f64 / decisions.len() as f64;
    assert!((0.25..0.35).contains(&share), "{share} of connections cut, not about 0.3");
    let (mut kinds, mut max_client, mut max_server) = ([0usize; 4], 0, 0);
    for cut in &cuts {
        match *cut {
            Cut::ClientBytes(n) => {
                kinds[0] += 1;
                assert!(n < 4096, "{cut:?}");
                max_client = max_client.max(n);
            }
            Cut::ServerBytes(n) => {
                kinds[1] += 1;
                assert!(n < 65536, "{cut:?}");
                max_server = max_server.max(n);
            }
            Cut::BeforeResponse => kinds[2] += 1,
            Cut::AtConnect => kinds[3] += 1,
        }
    }
    for count in kinds {
        assert!(count * 100 > cuts.len() * 18, "not uniform among the kinds: {kinds:?}");
    }
    assert!(max_client > 3500 && max_server > 55_000, "ranges not used up: {max_client}, {max_server}");
}

#[test]
fn seeded_plan_is_applied_per_connection() {
    const REQUEST: usize = 5000;
    const RESPONSE: usize = 20_000;
    let connections = 24;
    let decide = |seed: u64| -> Vec<Option<Cut>> {
        (0..connections).map(|n| FaultPlan::Seeded { seed, cut_probability: 0.7 }.decide(n)).collect()
    };
    // The first seed under which every fate occurs: no cut, each kind of
    // cut, and a response cut point past the response (no cut either).
    let covers = |decisions: &[Option<Cut>]| {
        decisions.contains(&None)
            && decisions.contains(&Some(Cut::AtConnect))
            && decisions.contains(&Some(Cut::BeforeResponse))
            && decisions.iter().any(|d| matches!(d, Some(Cut::ClientBytes(_))))
            && decisions.iter().any(|d| matches!(d, Some(Cut::ServerBytes(n)) if *n < RESPONSE as u64))
            && decisions.iter().any(|d| matches!(d, Some(Cut::ServerBytes(n)) if *n >= RESPONSE as u64))
    };
    let seed = (0..10_000).find(|&seed| covers(&decide(seed))).expect("a seed giving every fate");
    let plan = FaultPlan::Seeded { seed, cut_probability: 0.7 };
    let decisions = decide(seed);

    let response = Arc::new(data(RESPONSE, 10));
    let upstream = Upstream::start(Behaviour::Respond { after: REQUEST, response: Arc::clone(&response) });
    let proxy = FaultProxy::start(upstream.addr);
    proxy.set_plan(plan);
    let mut expected_cuts = 0;
    for (number, decision) in decisions.into_iter().enumerate() {
        let request = data(REQUEST, number as u8);
        // What the client and upstream should receive, and whether it is a cut.
        let (client_gets, upstream_gets, cut) = match decision {
            None => (RESPONSE, Some(REQUEST), false),
            Some(Cut::AtConnect) => (0, None, true),
            Some(Cut::ClientBytes(n)) => (0, Some(n as usize), true),
            Some(Cut::ServerBytes(n)) if (n as usize) < RESPONSE => (n as usize, Some(REQUEST), true),
            Some(Cut::ServerBytes(_)) => (RESPONSE, Some(REQUEST), false),
            Some(Cut::BeforeResponse) => (0, Some(REQUEST), true),
        };
        expected_cuts += u64::from(cut);

        let mut client = connect(&proxy);
        // May fail when the connection is already cut.
        let _ = client.write_all(&request);
        let (received, end) = read_up_to(&mut client, RESPONSE);
        assert_eq!(received.len(), client_gets, "connection {number}, {decision:?}");
        assert!(received == response[..client_gets], "connection {number}: other bytes than the response");
        if cut {
            assert!(end.is_some(), "connection {number}, {decision:?}: not cut");
        } else {
            assert_eq!(end, None, "connection {number}");
            client.shutdown(Shutdown::Write).expect("half-close the client");
            assert_eq!(read_to_end(&mut client), (Vec::new(), End::Eof), "connection {number}");
        }
        if let Some(upstream_gets) = upstream_gets {
            let seen = upstream.next_seen();
            assert_eq!(seen.bytes.len(), upstream_gets, "connection {number}, {decision:?}");
            assert!(seen.bytes == request[..upstream_gets], "connection {number}: other bytes than the request");
        }
        assert_eq!(proxy.cuts(), expected_cuts, "connection {number}, {decision:?}");
    }
    upstream.assert_nothing_more();
}
