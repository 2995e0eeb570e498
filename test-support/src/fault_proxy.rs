//! A TCP proxy that cuts connections on purpose, for tests that must prove a
//! client and a server lose nothing when the network fails.
//!
//! A [`FaultProxy`] listens on 127.0.0.1 on a free port and forwards every
//! connection it accepts to one upstream address, byte for byte, in both
//! directions (half-closes included). Its [`FaultPlan`] decides, per accepted
//! connection, whether and where that connection is cut ([`Cut`]): before any
//! byte, after so many request bytes (mid-request), after so many response
//! bytes (mid-response), or after the whole request but before the first
//! response byte (the server committed, the client never heard). Byte counts
//! are per connection, not per request: an HTTP client that keeps connections
//! alive sends several requests over one connection, so a cut point past the
//! first request also gives cuts between requests.
//!
//! A cut is abrupt: both sockets are closed with `SO_LINGER` set to zero, so
//! the peers see a reset (or an end of stream) rather than an orderly close,
//! and a peer that keeps writing gets errors. Everything the proxy had
//! forwarded before the cut has been handed to the peer's socket, so on
//! loopback the peer reads exactly those bytes before it sees the reset.
//!
//! The proxy runs its own single-threaded tokio runtime on a background thread
//! and its API is synchronous, so it works from plain `#[test]` functions and
//! from async tests alike.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

/// The size of the buffer each direction of a connection reads into.
const BUFFER_SIZE: usize = 16 * 1024;

/// How long the accept loop pauses after a failed `accept` (for example when
/// the process is out of file descriptors), so that it does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// Where a connection is cut. See [`FaultPlan`] for how cuts are chosen, and
/// the [module documentation](self) for what a cut looks like to the peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cut {
    /// Close both sides after forwarding `n` bytes client to server
    /// (mid-request when `n` is less than the request). The cut happens when
    /// a byte beyond the `n`th arrives from the client: the first `n` bytes
    /// are forwarded and the rest is not. A client that never sends more than
    /// `n` bytes is never cut.
    ClientBytes(u64),
    /// Close both sides after forwarding `n` bytes server to client
    /// (mid-response), in the same way as [`Cut::ClientBytes`]: when a byte
    /// beyond the `n`th arrives from the server.
    ServerBytes(u64),
    /// Forward the whole request, then close both sides as soon as the first
    /// response byte arrives from upstream, forwarding none of it: the server
    /// got (and may have committed) the request, the client never hears the
    /// answer. The same as `ServerBytes(0)`.
    BeforeResponse,
    /// Close the client's connection at accept, before any byte; the proxy
    /// does not connect upstream at all.
    AtConnect,
}

/// Which connections a [`FaultProxy`] cuts, and where.
///
/// Connections are numbered in the order the proxy accepts them, from 0
/// (refused connections included); [`FaultPlan::decide`] turns a connection's
/// number into its fate.
#[derive(Clone, Debug)]
pub enum FaultPlan {
    /// Forward everything faithfully.
    Pass,
    /// Seeded random faults: each new connection draws, from a [`ChaCha8Rng`]
    /// seeded with `seed` on the stream numbered by the connection number,
    /// whether it is cut (with probability `cut_probability`, clamped to 0..=1,
    /// NaN counting as 0) and if so one [`Cut`]: the kind uniformly among the
    /// four, the byte count uniformly in 0..4096 for [`Cut::ClientBytes`] and
    /// in 0..65536 for [`Cut::ServerBytes`].
    Seeded {
        /// The seed; the same seed gives the same decisions.
        seed: u64,
        /// The probability that a connection is cut at all.
        cut_probability: f64,
    },
    /// Every connection: apply this cut (for targeted tests).
    Always(Cut),
    /// Refuse: accept and immediately close every new connection (service
    /// unreachable). The same as `Always(Cut::AtConnect)`.
    Refuse,
}

impl FaultPlan {
    /// The fate of the connection numbered `connection_number` under this
    /// plan: `None` to forward it faithfully, or where to cut it. Pure: the
    /// same plan and number always give the same answer, whatever happened
    /// to other connections. [`FaultPlan::Refuse`] gives [`Cut::AtConnect`].
    pub fn decide(&self, connection_number: u64) -> Option<Cut> {
        match *self {
            FaultPlan::Pass => None,
            FaultPlan::Always(cut) => Some(cut),
            FaultPlan::Refuse => Some(Cut::AtConnect),
            FaultPlan::Seeded { seed, cut_probability } => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(connection_number);
                let probability = if cut_probability.is_nan() { 0.0 } else { cut_probability.clamp(0.0, 1.0) };
                if !rng.random_bool(probability) {
                    return None;
                }
                Some(match rng.random_range(0..4u8) {
                    0 => Cut::ClientBytes(rng.random_range(0..4096)),
                    1 => Cut::ServerBytes(rng.random_range(0..65536)),
                    2 => Cut::BeforeResponse,
                    _ => Cut::AtConnect,
                })
            }
        }
    }
}

/// A TCP proxy on 127.0.0.1 that forwards to one upstream address and cuts
/// connections according to its [`FaultPlan`] (initially [`FaultPlan::Pass`]).
///
/// Dropping it (or [`FaultProxy::stop`]) stops accepting, closes every
/// proxied connection and joins its thread: no task or socket outlives it.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    /// Tells the accept loop to stop; taken by the first stop.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What the proxy's handle and its tasks share.
struct Shared {
    /// The current plan. Connections subscribe when accepted, so they see
    /// later plans too.
    plan: watch::Sender<FaultPlan>,
    /// Bumped by [`FaultProxy::cut_all`]; every open connection watches it.
    cut_all: watch::Sender<u64>,
    /// Connections cut on purpose so far.
    cuts: AtomicU64,
}

impl FaultProxy {
    /// Listens on 127.0.0.1:0 (a free port) and forwards every accepted
    /// connection to `upstream`, under [`FaultPlan::Pass`] until
    /// [`FaultProxy::set_plan`] says otherwise.
    ///
    /// Panics when it cannot listen or start its runtime (test support: a
    /// test cannot go on without its proxy).
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener =
            StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("fault proxy: listening on 127.0.0.1:0 failed");
        let addr = listener.local_addr().expect("fault proxy: the listener has no local address");
        listener.set_nonblocking(true).expect("fault proxy: making the listener non-blocking failed");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("fault proxy: building its tokio runtime failed");
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener).expect("fault proxy: registering the listener with tokio failed")
        };
        let shared = Arc::new(Shared {
            plan: watch::Sender::new(FaultPlan::Pass),
            cut_all: watch::Sender::new(0),
            cuts: AtomicU64::new(0),
        });
        let (stop, stopped) = oneshot::channel();
        let thread = thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn({
                let shared = Arc::clone(&shared);
                move || {
                    runtime.block_on(serve(listener, upstream, shared, stopped));
                    // Dropping the runtime here, outside any async context,
                    // drops whatever task is left (there should be none).
                    drop(runtime);
                }
            })
            .expect("fault proxy: spawning its thread failed");
        FaultProxy { addr, upstream, shared, stop: Some(stop), thread: Some(thread) }
    }

    /// The address the proxy listens on (127.0.0.1 and its port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy as an HTTP base URL: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the fault plan. Connections accepted from now on are decided
    /// by `plan`. Open connections re-decide too, under the same connection
    /// number, the next time data arrives: their byte limits
    /// ([`Cut::ClientBytes`], [`Cut::ServerBytes`], [`Cut::BeforeResponse`])
    /// then count from that moment, so `set_plan(FaultPlan::Always(Cut::BeforeResponse))`
    /// cuts the next request even on a kept-alive connection, and
    /// `set_plan(FaultPlan::Pass)` disarms every pending cut. [`Cut::AtConnect`]
    /// (and so [`FaultPlan::Refuse`]) only concerns new connections: use
    /// [`FaultProxy::cut_all`] to close the open ones.
    pub fn set_plan(&self, plan: FaultPlan) {
        self.shared.plan.send_replace(plan);
    }

    /// The number of connections cut on purpose so far, of all kinds: the
    /// plan's cuts (refusals included) and those closed by
    /// [`FaultProxy::cut_all`]. Connections that end by themselves, or fail
    /// because a peer failed, do not count. A cut is counted before its
    /// sockets are closed, so a peer that has seen the cut can rely on the
    /// count.
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    /// Closes every open proxied connection now, both sides, abruptly (as a
    /// network drop would). Connections accepted afterwards are forwarded as
    /// the plan says.
    pub fn cut_all(&self) {
        self.shared.cut_all.send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// Stops accepting, closes every connection and joins the proxy's thread.
    /// Dropping the proxy does the same.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The accept loop may already be gone (if it panicked): then
            // joining below reports that.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
            && !thread::panicking()
        {
            panic!("fault proxy: its thread panicked");
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("plan", &*self.shared.plan.borrow())
            .field("cuts", &self.cuts())
            .field("running", &self.thread.is_some())
            .finish()
    }
}

/// The accept loop: one task per connection, all of them in a [`JoinSet`] so
/// that stopping aborts and awaits every one.
async fn serve(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    let mut next_number: u64 = 0;
    loop {
        tokio::select! {
            // Stop when told to, and also when the handle is gone without
            // saying so (the sender dropped).
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    let number = next_number;
                    next_number += 1;
                    // Subscribed here, at accept, so that a later cut_all or
                    // plan reaches this connection.
                    let plan = shared.plan.subscribe();
                    let cut_all = shared.cut_all.subscribe();
                    connections.spawn(proxy_connection(client, number, upstream, Arc::clone(&shared), plan, cut_all));
                }
                Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
            },
            // Reap finished connections so that the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// How a proxied connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Both directions reached end of stream; both sides closed in order.
    Closed,
    /// A peer failed (reset, write error): the other side is reset too.
    Failed,
    /// Cut on purpose (by the plan or by cut_all).
    Cut,
}

/// Proxies one accepted connection to the end, as its plan decides.
async fn proxy_connection(
    mut client: TcpStream,
    number: u64,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    mut plan: watch::Receiver<FaultPlan>,
    mut cut_all: watch::Receiver<u64>,
) {
    let decision = plan.borrow_and_update().decide(number);
    if decision == Some(Cut::AtConnect) {
        shared.cuts.fetch_add(1, Ordering::SeqCst);
        abort(&client);
        return;
    }
    let mut server = None;
    let ending = tokio::select! {
        ending = connect_and_relay(&mut client, &mut server, upstream, number, decision, plan) => ending,
        _ = cut_all.changed() => Ending::Cut,
    };
    match ending {
        Ending::Closed => {}
        Ending::Failed => {
            abort(&client);
            if let Some(server) = &server {
                abort(server);
            }
        }
        Ending::Cut => {
            shared.cuts.fetch_add(1, Ordering::SeqCst);
            abort(&client);
            if let Some(server) = &server {
                abort(server);
            }
        }
    }
    // Both sockets close here, when `client` and `server` drop.
}

/// Makes closing `stream` reset the connection (`SO_LINGER` zero) instead of
/// closing it in order. Best effort: a socket that refuses still closes.
fn abort(stream: &TcpStream) {
    // `set_linger` is deprecated because a non-zero linger blocks the thread
    // on close; a zero linger never blocks. (`set_zero_linger` says the same
    // but needs tokio 1.50, newer than the workspace requires.)
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
}

/// Connects to `upstream` (leaving the stream in `server` for the caller to
/// close) and relays between it and `client` until the connection ends.
async fn connect_and_relay(
    client: &mut TcpStream,
    server: &mut Option<TcpStream>,
    upstream: SocketAddr,
    number: u64,
    decision: Option<Cut>,
    plan: watch::Receiver<FaultPlan>,
) -> Ending {
    let Ok(connected) = TcpStream::connect(upstream).await else {
        // Upstream is down: the client sees its connection reset, as it
        // would without the proxy.
        return Ending::Failed;
    };
    // A proxy should not add latency, and Nagle's algorithm could otherwise
    // hold back the last bytes forwarded before a cut, which the reset would
    // then discard.
    let _ = client.set_nodelay(true);
    let _ = connected.set_nodelay(true);
    let server = server.insert(connected);
    let (client_read, client_write) = client.split();
    let (server_read, server_write) = server.split();
    let upward = pump(client_read, server_write, Direction::Upward, number, decision, plan.clone());
    let downward = pump(server_read, client_write, Direction::Downward, number, decision, plan);
    tokio::pin!(upward, downward);
    let (mut upward_done, mut downward_done) = (false, false);
    loop {
        let ending = tokio::select! {
            ending = &mut upward, if !upward_done => {
                upward_done = true;
                ending
            }
            ending = &mut downward, if !downward_done => {
                downward_done = true;
                ending
            }
        };
        if ending != Ending::Closed || (upward_done && downward_done) {
            return ending;
        }
    }
}

/// One direction of a connection.
#[derive(Clone, Copy, Debug)]
enum Direction {
    /// Client to server: the requests.
    Upward,
    /// Server to client: the responses.
    Downward,
}

impl Direction {
    /// How many bytes this direction may forward under `decision` before it
    /// cuts, or `None` for no limit.
    fn limit(self, decision: Option<Cut>) -> Option<u64> {
        match (self, decision?) {
            (Direction::Upward, Cut::ClientBytes(n)) | (Direction::Downward, Cut::ServerBytes(n)) => Some(n),
            (Direction::Downward, Cut::BeforeResponse) => Some(0),
            _ => None,
        }
    }
}

/// Copies one direction until end of stream (which it passes on as a
/// half-close), a failure, or its byte limit, counting bytes per connection
/// (since the plan last changed).
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    direction: Direction,
    number: u64,
    decision: Option<Cut>,
    mut plan: watch::Receiver<FaultPlan>,
) -> Ending {
    let mut limit = direction.limit(decision);
    let mut forwarded: u64 = 0;
    let mut buffer = vec![0; BUFFER_SIZE];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) => {
                return match to.shutdown().await {
                    Ok(()) => Ending::Closed,
                    Err(_) => Ending::Failed,
                };
            }
            Ok(read) => read,
            Err(_) => return Ending::Failed,
        };
        // A new plan applies from the first data after it.
        if plan.has_changed().unwrap_or(false) {
            limit = direction.limit(plan.borrow_and_update().decide(number));
            forwarded = 0;
        }
        let allowed = match limit {
            None => read,
            Some(limit) => read.min(usize::try_from(limit.saturating_sub(forwarded)).unwrap_or(usize::MAX)),
        };
        if allowed > 0 {
            if write_all(&mut to, &buffer[..allowed]).await.is_err() {
                return Ending::Failed;
            }
            forwarded += allowed as u64;
        }
        if allowed < read {
            return Ending::Cut;
        }
    }
}

/// `write_all` and a flush (a no-op for TCP, but the contract of
/// [`AsyncWrite`]).
async fn write_all(to: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> io::Result<()> {
    to.write_all(bytes).await?;
    to.flush().await
}
